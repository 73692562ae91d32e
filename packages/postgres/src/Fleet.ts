/**
 * pgfleet for code outside Effect: `createFleet` opens the same layers as
 * `PostgresLive` through a `ManagedRuntime` and hands out node-postgres
 * `Pool`s over them, for drizzle, Kysely, `@prisma/adapter-pg` or plain `pg`.
 *
 * @example
 * ```ts
 * import { Fleet } from "@pgfleet/postgres"
 *
 * export const start = async () => {
 *   const fleet = await Fleet.createFleet(process.env)
 *   const { rows } = await fleet.readerPool.query("SELECT now() AS now") // a healthy replica
 *   await fleet.writerPool.query("INSERT INTO events (at) VALUES ($1)", [rows[0].now])
 *   await fleet.close()
 * }
 * ```
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import type * as ConfigError from "effect/ConfigError"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import type pg from "pg"
import type { HostPool } from "./HostPool.js"
import { RoutedPool } from "./internal/fleet/pgPool.js"
import { pathOf } from "./internal/postgres/fleetClient.js"
import * as Postgres from "./Postgres.js"
import * as PostgresConfig from "./PostgresConfig.js"
import { PostgresError } from "./PostgresError.js"
import * as ReaderPools from "./ReaderPools.js"
import * as ReaderRouter from "./ReaderRouter.js"
import * as WriterPool from "./WriterPool.js"

/**
 * An open fleet for code outside Effect.
 *
 * @since 0.1.0
 * @category models
 */
export interface Fleet {
  /** The fleet's name (`DB_FLEET_NAME`, or the prefix in lower case), as `stats`, spans, logs and metrics give it. */
  readonly name: string
  /** The primary, as a node-postgres `Pool`. */
  readonly writerPool: pg.Pool
  /**
   * Reads as a node-postgres `Pool`: each `query` goes to a healthy replica
   * picked by the router and is tried once more elsewhere after a connection
   * failure, as `pg.reader`; `connect()` pins one healthy replica for that
   * client's life.
   */
  readonly readerPool: pg.Pool
  /** One `Pool` per replica, in `DB_READER_HOSTS` order, each on that replica alone. */
  readonly readerPools: ReadonlyArray<pg.Pool>
  /** One of `readerPools` at random, as the original module's `get_random_reader_connection_pool`. */
  readonly randomReaderPool: () => pg.Pool
  /** Every host: pool counts, health, role, lag. */
  readonly stats: () => Promise<ReadonlyArray<Postgres.HostStats>>
  /** Checks out `DB_MIN_POOL_SIZE` connections on every pool at once and releases them. */
  readonly warmUp: () => Promise<void>
  /** Closes every pool, bounded by `DB_POOL_CLOSE_GRACE_MS`; no connection stays open. Later calls do nothing. */
  readonly close: () => Promise<void>
  /** The `Postgres` service, for code that is partly Effect. */
  readonly postgres: Postgres.Service
  /** The runtime holding the fleet's layers: `fleet.runtime.runPromise(effect)`. */
  readonly runtime: ManagedRuntime.ManagedRuntime<Postgres.Services, PostgresError | ConfigError.ConfigError>
}

/**
 * `DB_*` variables (as in `process.env`), or the settings in code.
 *
 * @since 0.1.0
 * @category models
 */
export type FleetInput = Readonly<Record<string, string | undefined>> | PostgresConfig.PostgresSettingsInput

/**
 * How to read a fleet from an environment: `prefix` (e.g. `ORDERS`) reads
 * `ORDERS_DB_*` and names the fleet `orders`, so one environment configures
 * several fleets. Settings given in code take their name from `fleetName`.
 *
 * @since 0.2.0
 * @category models
 */
export interface FleetOptions {
  readonly prefix?: string | undefined
  /**
   * The password, asked for each new connection (or once per
   * `DB_PASSWORD_CACHE_SECONDS`): an IAM token or a secret manager's value,
   * instead of `DB_PASSWORD` in the environment.
   */
  readonly passwordProvider?: PostgresConfig.PasswordProvider | undefined
}

const isEnvironment = (input: FleetInput): input is Readonly<Record<string, string | undefined>> =>
  !("writerHosts" in input)

/**
 * The layers of a fleet from `DB_*` variables (`ORDERS_DB_*` with
 * `{ prefix: "ORDERS" }`) or settings: the same checks and errors as
 * `PostgresLive`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerFor = (
  input: FleetInput,
  options: FleetOptions = {}
): Layer.Layer<Postgres.Services, PostgresError | ConfigError.ConfigError> => {
  if (!isEnvironment(input)) return Postgres.layer(input)
  const entries = Object.entries(input).filter((e): e is [string, string] => e[1] !== undefined)
  const config = options.prefix === undefined && options.passwordProvider === undefined
    ? PostgresConfig.fromEnv
    : PostgresConfig.fromEnvWith(options)
  return Postgres.layerConfig(config).pipe(
    Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map(entries))))
  )
}

/** Checks out `n` connections of a pool at once (pg's `min` opens none), then releases them. */
const warm = async (pool: pg.Pool, n: number) => {
  const clients = await Promise.all(Array.from({ length: n }, () => pool.connect()))
  for (const client of clients) client.release()
}

/**
 * Opens a fleet: every pool open, warmed and role-checked. Rejects with the
 * `ConfigError` or `PostgresError` that `PostgresLive` would fail with.
 * `{ prefix: "ORDERS" }` reads `ORDERS_DB_*` instead of `DB_*`, so one
 * environment opens several fleets, each named after its prefix.
 *
 * @example
 * ```ts
 * import { Fleet } from "@pgfleet/postgres"
 * import { drizzle } from "drizzle-orm/node-postgres"
 *
 * export const makeDb = async () => {
 *   const fleet = await Fleet.createFleet(process.env)
 *   return { fleet, db: drizzle(fleet.writerPool), reads: drizzle(fleet.readerPool) }
 * }
 *
 * // ORDERS_DB_WRITER_HOST, ORDERS_DB_USERNAME, ... in the same environment
 * export const openOrders = () => Fleet.createFleet(process.env, { prefix: "ORDERS" })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const createFleet = async (input: FleetInput, options: FleetOptions = {}): Promise<Fleet> => {
  const runtime = ManagedRuntime.make(layerFor(input, options))
  const built = await runtime.runPromiseExit(
    Effect.all({
      postgres: Postgres.Postgres,
      writer: WriterPool.WriterPool,
      readers: ReaderPools.ReaderPools,
      router: ReaderRouter.ReaderRouter,
      settings: PostgresConfig.PostgresConfig
    })
  )
  if (built._tag === "Failure") {
    await runtime.dispose()
    throw Cause.squash(built.cause)
  }
  const { postgres, readers, router, settings, writer } = built.value
  const route = (
    name: string,
    direct: ReturnType<typeof pathOf>,
    pick: (exclude: ReadonlyArray<string>) => HostPool | PostgresError,
    pools: () => ReadonlyArray<HostPool>
  ) => new RoutedPool({ name, direct, pick, pools })

  const writerPool = route("writer", pathOf(postgres.writer), () => writer, () => [writer])
  const readerPool = route(
    "reader",
    pathOf(postgres.reader),
    (exclude) => {
      const decision = router.decide(exclude)
      return decision instanceof PostgresError ? decision : decision.pool
    },
    () => readers.length === 0 ? [writer] : readers
  )
  const readerPools = readers.map((replica) => replica.pgPool)

  let closing: Promise<void> | undefined
  return {
    name: settings.fleetName,
    writerPool,
    readerPool,
    readerPools,
    randomReaderPool: () =>
      readerPools.length === 0 ? writer.pgPool : readerPools[Math.floor(Math.random() * readerPools.length)]!,
    stats: () => runtime.runPromise(postgres.stats),
    warmUp: async () => {
      await Promise.all([writer, ...readers].map((p) => warm(p.pgPool, Math.max(1, settings.minPoolSize))))
    },
    close: () => closing ??= runtime.dispose(),
    postgres,
    runtime
  }
}
