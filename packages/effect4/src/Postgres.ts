/**
 * The facade a program uses: `writer` always talks to the primary, `reader`
 * routes each statement to a healthy replica, `withReader` / `withWriter`
 * run existing `SqlClient` code on either side, and `stats` shows every pool.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Postgres, PostgresLive } from "@pgfleet/effect4"
 *
 * const program = Effect.gen(function*() {
 *   const pg = yield* Postgres.Postgres
 *   yield* pg.writer`INSERT INTO notes (body) VALUES (${"hello"})`
 *   const notes = yield* pg.reader`SELECT body FROM notes`
 *   return notes
 * })
 *
 * // Run it from your entry point, e.g. NodeRuntime.runMain(main).
 * export const main = Effect.provide(program, PostgresLive)
 * ```
 *
 * @since 0.1.0
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import { type HostState, StatementClass } from "@pgfleet/core"
import type * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Reactivity from "effect/reactivity/Reactivity"
import * as References from "effect/References"
import type * as Scope from "effect/Scope"
import * as SqlClient from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import * as HealthMonitor from "./HealthMonitor.js"
import * as AutoRoute from "./internal/postgres/autoRoute.js"
import * as FleetClient from "./internal/postgres/fleetClient.js"
import * as Listen from "./internal/postgres/listen.js"
import * as PostgresConfig from "./PostgresConfig.js"
import { PostgresError } from "./PostgresError.js"
import * as ReaderPools from "./ReaderPools.js"
import * as ReaderRouter from "./ReaderRouter.js"
import * as StatementClassifier from "./StatementClassifier.js"
import * as WriterPool from "./WriterPool.js"

/**
 * A snapshot of one host: pool counts and what the health monitor knows.
 *
 * @since 0.1.0
 * @category models
 */
export type HostStats = HostState.HostStats

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /**
   * Always the primary. Writes are never routed to a replica and never
   * retried by pgfleet. A complete `PgClient` of `@effect/sql-pg`.
   */
  readonly writer: PgClient.PgClient
  /**
   * Each statement outside a transaction goes to a replica picked by the
   * `ReaderRouter`, and is tried once more elsewhere after a connection-class
   * failure. A transaction opened on it stays on one replica. Inside a writer
   * transaction, its statements join that transaction (and see its writes).
   * A complete `PgClient`: `reserve` and streams hold a replica's connection;
   * `listen` and `notify` go to the writer, since a standby never delivers
   * notifications.
   */
  readonly reader: PgClient.PgClient
  /**
   * Each statement outside a transaction classified by PostgreSQL's own
   * grammar (`StatementClassifier`): what certainly only reads goes the
   * reader's way, everything else to the writer. After a write, later reads
   * in the same fiber see it (`DB_AUTO_READ_YOUR_WRITES`). `withTransaction`
   * runs on the writer; see `withReadOnlyTransaction` for one replica. A
   * complete `PgClient`.
   */
  readonly auto: PgClient.PgClient
  /**
   * Runs `effect` in a transaction on one replica: statements through
   * `reader` or `auto` inside it join it. For work that only reads and wants
   * one consistent snapshot.
   */
  readonly withReadOnlyTransaction: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | SqlError, R>
  /** Runs `effect` with `SqlClient` bound to the routed reader. */
  readonly withReader: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, Exclude<R, SqlClient.SqlClient>>
  /** Runs `effect` with `SqlClient` bound to the writer. */
  readonly withWriter: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, Exclude<R, SqlClient.SqlClient>>
  /** The writer's current WAL position (`pg_current_wal_lsn()`), e.g. right after a write. */
  readonly writerPosition: Effect.Effect<string, SqlError>
  /**
   * Runs `effect` with its reads routed only to replicas known (from their
   * last probe) to have replayed `position`, or else to the writer.
   */
  readonly readingAfter: (
    position: string
  ) => <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  /** Read-your-writes: `readingAfter` the writer's current position, so `effect` sees every write made before it. */
  readonly withReadYourWrites: <A, E, R>(effect: Effect.Effect<A, E | SqlError, R>) => Effect.Effect<A, E | SqlError, R>
  /** Every host, writer first. */
  readonly stats: Effect.Effect<ReadonlyArray<HostStats>>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class Postgres extends Context.Service<Postgres, Service>()("@pgfleet/effect4/Postgres") {}

/** Numbers each fleet's transaction tag: two fleets never share a transaction. */
let nextFleet = 0

/**
 * Builds the facade from the pool, router and health services. Its `listen`
 * connection to the writer stays open until the scope closes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<
  Service,
  never,
  | PostgresConfig.PostgresConfig
  | WriterPool.WriterPool
  | ReaderPools.ReaderPools
  | ReaderRouter.ReaderRouter
  | HealthMonitor.HealthMonitor
  | StatementClassifier.StatementClassifier
  | Reactivity.Reactivity
  | Scope.Scope
> = Effect.gen(function*() {
  const settings = yield* PostgresConfig.PostgresConfig
  const writerPool = yield* WriterPool.WriterPool
  const readerPools = yield* ReaderPools.ReaderPools
  const router = yield* ReaderRouter.ReaderRouter
  const monitor = yield* HealthMonitor.HealthMonitor
  const classifier = yield* StatementClassifier.StatementClassifier

  const writerTarget = { pool: writerPool, route: "writer" }
  // Refuse writes while two candidates are primaries; fail fast while the writer is known to be down.
  const pickWriter = () => {
    const split = monitor.splitBrain()
    if (split !== undefined) {
      return new PostgresError({
        reason: "SplitBrain",
        host: split.join(","),
        message: `${split.join(" and ")} both answer as primary; writes are refused until only one does`
      })
    }
    return monitor.health(writerPool.host).state === "down"
      ? new PostgresError({
        reason: "Unavailable",
        host: writerPool.host,
        message: `the writer ${writerPool.host} is down (${
          monitor.health(writerPool.host).lastError ?? "failed health checks"
        }); writes fail fast until it answers again`
      })
      : writerTarget
  }
  // One LISTEN connection for the fleet, to the current writer; it follows the writer when it moves.
  const listener = yield* Listen.make(writerPool, settings)
  const transactionService = Context.Service<SqlClient.TransactionConnection, SqlClient.TransactionConnection.Service>(
    `@pgfleet/effect4/TransactionConnection/${nextFleet++}`
  )
  const writer = yield* FleetClient.make({
    name: "writer",
    writer: writerPool,
    pick: pickWriter,
    reads: false,
    onFailure: monitor.reportFailure,
    settings,
    listener,
    transactionService
  })
  const reader = yield* FleetClient.make({
    name: "reader",
    writer: writerPool,
    pick: router.decide,
    reads: true,
    onFailure: monitor.reportFailure,
    settings,
    listener,
    notifyVia: writer,
    transactionService
  })

  const noCounts = { total: 0, idle: 0, inUse: 0, waiting: 0 }
  const stats = Effect.sync(() =>
    [
      writerPool,
      ...readerPools,
      // Writer candidates that are neither the writer nor readers: their observed role.
      ...monitor.candidates().filter((host) => host !== writerPool.host && !readerPools.some((r) => r.host === host))
        .map((host) => ({ host, role: "candidate" as const, maxPoolSize: 0, weight: 0, counts: () => noCounts }))
    ].map((pool): HostStats => {
      const health = monitor.health(pool.host)
      return {
        fleet: settings.fleetName,
        host: pool.host,
        role: pool.role,
        maxPoolSize: pool.maxPoolSize,
        weight: pool.role === "reader" ? pool.weight : undefined,
        ...pool.counts(),
        health: health.state,
        observedRole: health.observedRole,
        // Per row: a host may be both the writer and a listed reader.
        roleMismatch: pool.role === "writer"
          ? health.observedRole === "standby"
          : pool.role === "reader" && health.observedRole === "primary",
        consecutiveFailures: health.consecutiveFailures,
        lastProbeLatencyMs: health.lastProbeLatencyMs,
        lagBytes: health.lagBytes,
        lagSeconds: health.lagSeconds
      }
    })
  )

  const writerPosition = Effect.map(
    writer<{ lsn: string }>`SELECT pg_current_wal_lsn()::text AS lsn`,
    (rows) => rows[0]!.lsn
  )
  const readingAfter = (position: string) => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    Effect.provideService(effect, ReaderRouter.currentMinimumPosition, HealthMonitor.parseLsn(position))

  yield* Effect.promise(StatementClass.loadParser)
  const autoRoute = AutoRoute.make({
    settings,
    classifier,
    writer: pickWriter,
    reader: router.decide,
    writerPosition
  })
  // pg.auto: a statement the classifier knows is a read goes to a replica; anything else to the writer.
  const auto = yield* FleetClient.make({
    name: "auto",
    writer: writerPool,
    pick: autoRoute.pick,
    prepare: autoRoute.prepare,
    minimumPosition: autoRoute.minimumPosition,
    succeeded: autoRoute.succeeded,
    reads: false,
    onFailure: monitor.reportFailure,
    settings,
    listener,
    notifyVia: writer,
    transactionService
  })

  return {
    writer,
    reader,
    auto,
    withReadOnlyTransaction: (effect) => reader.withTransaction(effect),
    writerPosition,
    readingAfter,
    withReadYourWrites: (effect) => Effect.flatMap(writerPosition, (position) => readingAfter(position)(effect)),
    withReader: (effect) => Effect.provideService(effect, SqlClient.SqlClient, reader),
    withWriter: (effect) => Effect.provideService(effect, SqlClient.SqlClient, writer),
    stats
  } satisfies Service
})

/**
 * Every service pgfleet provides.
 *
 * @since 0.1.0
 * @category models
 */
export type Services =
  | Postgres
  | SqlClient.SqlClient
  | PgClient.PgClient
  | PostgresConfig.PostgresConfig
  | WriterPool.WriterPool
  | ReaderPools.ReaderPools
  | ReaderRouter.ReaderRouter
  | HealthMonitor.HealthMonitor
  | StatementClassifier.StatementClassifier

const facade = Layer.effectContext(
  Effect.gen(function*() {
    const service = yield* make
    return Context.make(Postgres, service).pipe(
      Context.add(SqlClient.SqlClient, service.writer),
      Context.add(PgClient.PgClient, service.writer)
    )
  })
)

/**
 * The fleet's name on the logs and spans of its own work (`fleet`,
 * `pgfleet.fleet`), added to the annotations already in force; the v4 form
 * of the Effect 3 line's `Layer.annotateLogs` / `Layer.annotateSpans`.
 */
const named = (fleet: string) =>
  Layer.effectContext(Effect.gen(function*() {
    const logs = yield* References.CurrentLogAnnotations
    const spans = yield* References.TracerSpanAnnotations
    return Context.make(References.CurrentLogAnnotations, { ...logs, fleet }).pipe(
      Context.add(References.TracerSpanAnnotations, { ...spans, "pgfleet.fleet": fleet })
    )
  }))

const graph = facade.pipe(
  Layer.provideMerge(Layer.merge(ReaderRouter.layer, StatementClassifier.layer)),
  Layer.provideMerge(HealthMonitor.layer),
  // Merged layers build concurrently: the writer and the readers open at the same time.
  Layer.provideMerge(Layer.merge(WriterPool.layer, ReaderPools.layer)),
  Layer.provideMerge(Reactivity.layer)
)

/**
 * The whole fleet from a `PostgresConfig` service: writer and reader pools
 * (opened at the same time), health monitor, router and facade. `SqlClient`
 * and `PgClient` are pgfleet's writer, so existing `effect/sql` and
 * `@effect/sql-pg` code runs unchanged, with pgfleet's fail-fast and health
 * reporting. Logs and spans of the fleet's own work carry its name
 * (`fleet`, `pgfleet.fleet`).
 *
 * Each use builds a fleet of its own, from the `PostgresConfig` it is given
 * there: Effect shares a layer value among its uses within one build, and
 * every pool, monitor and router inside would otherwise be the first use's
 * whatever config the second use had. {@link layer} and {@link layerConfig}
 * wrap it once per call, so the value they return is shared as any layer is.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerFromConfigService: Layer.Layer<
  Exclude<Services, PostgresConfig.PostgresConfig>,
  PostgresError,
  PostgresConfig.PostgresConfig
> = Layer.fresh(
  Layer.unwrap(Effect.map(PostgresConfig.PostgresConfig, (settings) => Layer.provide(graph, named(settings.fleetName))))
)

/**
 * The fleet from settings given in code.
 *
 * @example
 * ```ts
 * import { Postgres } from "@pgfleet/effect4"
 *
 * const Live = Postgres.layer({
 *   writerHosts: ["db-primary.internal", "db-standby.internal"],
 *   readerHosts: ["db-replica-1.internal", "db-replica-2.internal"],
 *   username: "app",
 *   password: "p@ss:w/rd#?",
 *   database: "app"
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  input: PostgresConfig.PostgresSettingsInput
): Layer.Layer<Services, PostgresError | Config.ConfigError> =>
  Layer.provideMerge(layerFromConfigService, PostgresConfig.layer(input))

/**
 * The fleet from a `Config` of settings.
 *
 * @example
 * ```ts
 * import { Postgres, PostgresConfig } from "@pgfleet/effect4"
 *
 * const Live = Postgres.layerConfig(PostgresConfig.fromEnv)
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  config: Config.Config<PostgresConfig.PostgresSettings>
): Layer.Layer<Services, PostgresError | Config.ConfigError> =>
  Layer.provideMerge(layerFromConfigService, PostgresConfig.layerConfig(config))

/**
 * One fleet among several in one environment: `layerFleet("ORDERS")` reads
 * `ORDERS_DB_*` ({@link PostgresConfig.fromEnvPrefixed}) and is named
 * `orders` in `stats`, spans, logs and metrics. Put each fleet under a
 * service of your own.
 *
 * @example
 * ```ts
 * import { Context, Effect, Layer } from "effect"
 * import { Postgres } from "@pgfleet/effect4"
 *
 * class Orders extends Context.Service<Orders, Postgres.Service>()("app/Orders") {}
 * class Analytics extends Context.Service<Analytics, Postgres.Service>()("app/Analytics") {}
 *
 * // ORDERS_DB_WRITER_HOST, ORDERS_DB_USERNAME, ...; ANALYTICS_DB_WRITER_HOST, ...
 * export const Databases = Layer.merge(
 *   Layer.effect(Orders, Effect.service(Postgres.Postgres)).pipe(Layer.provide(Postgres.layerFleet("ORDERS"))),
 *   Layer.effect(Analytics, Effect.service(Postgres.Postgres)).pipe(Layer.provide(Postgres.layerFleet("ANALYTICS")))
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerFleet = (prefix: string): Layer.Layer<Services, PostgresError | Config.ConfigError> =>
  layerConfig(PostgresConfig.fromEnvPrefixed(prefix))

/**
 * What {@link layerTest} needs of a running cluster: where its servers
 * listen and how to log in. `startTestCluster` of `@pgfleet/testing` (real
 * PostgreSQL servers, a primary and streaming replicas, with faults) gives
 * exactly this; so does any cluster you describe by hand.
 *
 * @since 0.1.0
 * @category models
 */
export interface TestClusterInfo {
  readonly writer: { readonly host: string; readonly port: number }
  readonly readers: ReadonlyArray<{ readonly host: string; readonly port: number }>
  readonly username: string
  readonly database: string
  /** Its `DB_*` variables; `DB_PASSWORD` is read from here. */
  readonly env: Readonly<Record<string, string>>
}

/**
 * `PostgresLive`'s stand-in for tests: every service of a fleet over a
 * running test cluster, built fresh for each use and closed with it, with
 * `settings` changed from the defaults and the fleet named `name`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Postgres } from "@pgfleet/effect4"
 *
 * // Or `await startTestCluster({ replicas: 2 })` from @pgfleet/testing: real servers, with faults.
 * const cluster: Postgres.TestClusterInfo = {
 *   writer: { host: "127.0.0.1", port: 5432 },
 *   readers: [{ host: "127.0.0.1", port: 5433 }],
 *   username: "app",
 *   database: "app",
 *   env: { DB_PASSWORD: "secret" }
 * }
 * export const test = Effect.gen(function*() {
 *   const pg = yield* Postgres.Postgres
 *   return yield* pg.reader`SELECT pg_is_in_recovery() AS standby`
 * }).pipe(Effect.provide(Postgres.layerTest(cluster, { settings: { readerStrategy: "round-robin" } })))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerTest = (
  cluster: TestClusterInfo,
  options?: {
    readonly settings?: Partial<PostgresConfig.PostgresSettingsInput> | undefined
    readonly name?: string | undefined
  }
): Layer.Layer<Services, PostgresError | Config.ConfigError> =>
  Layer.fresh(layer({
    writerHosts: [`${cluster.writer.host}:${cluster.writer.port}`],
    readerHosts: cluster.readers.map((r) => `${r.host}:${r.port}`),
    username: cluster.username,
    password: cluster.env.DB_PASSWORD ?? "",
    database: cluster.database,
    ...(options?.name === undefined ? {} : { fleetName: options.name }),
    ...options?.settings
  }))

/**
 * The fleet configured from the `DB_*` environment variables (through
 * whatever `ConfigProvider` is in force where it is used).
 *
 * Each use opens a fleet of its own, from the provider of that use: two uses
 * with two providers are two fleets. (Effect shares one layer value among
 * its uses within a build and runs none of its code for the later ones, so
 * a shared `PostgresLive` would silently give every use the first one's
 * fleet.) To share one fleet, provide it once, or make the layer once:
 * `const Live = Postgres.layerConfig(PostgresConfig.fromEnv)` is shared
 * wherever `Live` is used, as any layer value is.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { SqlClient } from "effect/sql"
 * import { PostgresLive } from "@pgfleet/effect4"
 *
 * // Existing effect/sql code runs unchanged, on the writer.
 * const count = Effect.flatMap(Effect.service(SqlClient.SqlClient), (sql) => sql`SELECT count(*) FROM notes`)
 * export const main = Effect.provide(count, PostgresLive)
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const PostgresLive: Layer.Layer<Services, PostgresError | Config.ConfigError> = Layer.fresh(
  layerConfig(PostgresConfig.fromEnv)
)
