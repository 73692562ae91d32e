/**
 * One host's pool (node-postgres's `pg.Pool`, or under `DB_DRIVER=sql-pg`
 * the `PgPool` of @effect/sql-pg 4), opened, warmed and role-checked when its
 * scope opens, and closed within a bounded time when it closes.
 *
 * @since 0.1.0
 */
import { Connection, Credentials, Failure, PoolControl, PooledQuery, Settings } from "@pgfleet/core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import pg from "pg"
import { clientConfig, connectionOptions } from "./internal/postgresConfig.js"
import * as SqlPgPool from "./internal/sqlPgPool.js"
import type { HostAddress, PostgresSettings } from "./PostgresConfig.js"
import { hostLabel } from "./PostgresConfig.js"
import { PostgresError } from "./PostgresError.js"
import * as PostgresMetrics from "./PostgresMetrics.js"

/**
 * @since 0.1.0
 * @category models
 */
export type Role = "writer" | "reader"

/**
 * @since 0.1.0
 * @category models
 */
export interface PoolCounts {
  readonly total: number
  readonly idle: number
  readonly inUse: number
  readonly waiting: number
}

/**
 * One host's pool. Statements reach it through the `Postgres` facade's
 * clients, which pick the host; the pool itself is node-postgres's, or
 * sql-pg's ({@link HostPool.sqlPg}) under `DB_DRIVER=sql-pg`.
 *
 * @since 0.1.0
 * @category models
 */
export interface HostPool {
  /** `host:port`. */
  readonly host: string
  readonly address: HostAddress
  readonly role: Role
  /** This host's pool bound: `;max=N` on its entry, else `DB_MAX_POOL_SIZE`. */
  readonly maxPoolSize: number
  /** A replica's share of reads against the others (`;weight=N`, else 1). */
  readonly weight: number
  /**
   * The node-postgres pool underneath. Under `DB_DRIVER=sql-pg` it holds at
   * most one connection, for pgfleet's own lookups (`pg.auto`'s function
   * volatility), and statements run on {@link sqlPg}.
   */
  readonly pgPool: pg.Pool
  /** Under `DB_DRIVER=sql-pg`: @effect/sql-pg 4's pool, which runs the statements, and pgfleet's gauges of it. */
  readonly sqlPg: SqlPgPool.SqlPgPool | undefined
  /** The pool's connection counts right now. */
  readonly counts: () => PoolCounts
  /** How long opening and warming the pool took. */
  readonly warmupTime: Duration.Duration
  /**
   * A new, unconnected client with the pool's options, outside the pool (for
   * `listen`). {@link abandon} and closing the pool destroy it with the
   * pool's own connections.
   */
  readonly newClient: () => pg.Client
  /** Destroys the connections checked out right now, so reads stuck on a dead host fail over at once. */
  readonly dropCheckedOut: () => void
  /**
   * The host stopped answering (its probes marked it down): ends at once
   * everything that waits on it. Running statements fail (a write's outcome
   * is then unknown); callers waiting for a connection fail with
   * `Unavailable`, as never sent. The pool stays open.
   */
  readonly abandon: () => void
  /** Drops every pooled connection, so new ones resolve the host name again (a DNS or VIP flip). */
  readonly recycle: () => void
}

/**
 * @since 0.1.0
 * @category models
 */
export interface MakeOptions {
  readonly address: HostAddress
  readonly role: Role
  readonly settings: PostgresSettings
}

/**
 * The retry schedule for opening a pool: exponential from
 * `DB_CONNECT_RETRY_BASE_MS` with jitter, each delay capped at
 * `DB_CONNECT_RETRY_MAX_DELAY_MS`. {@link retryPolicy} adds the attempt bound.
 *
 * @since 0.1.0
 * @category schedules
 */
export const retrySchedule = (settings: PostgresSettings): Schedule.Schedule<Duration.Duration> =>
  Schedule.exponential(settings.retryBase).pipe(
    Schedule.jittered,
    Schedule.modifyDelay((m) => Effect.succeed(Duration.min(m.duration, settings.retryMaxDelay)))
  )

/**
 * {@link retrySchedule}, at most `DB_CONNECT_RETRY_MAX_ATTEMPTS` attempts in
 * all, while `retryable` says the failure can mend itself; for `Effect.retry`.
 *
 * @since 0.1.0
 * @category schedules
 */
export const retryPolicy = <E>(settings: PostgresSettings, retryable: (e: E) => boolean) => ({
  schedule: retrySchedule(settings),
  times: settings.retryMaxAttempts - 1,
  while: retryable
})

/** Warms the node-postgres pool (see core's `PoolControl.warm`). */
const warmPg = (pool: pg.Pool) => (n: number, verify: boolean) =>
  Effect.tryPromise({ try: () => PoolControl.warm(pool, n, verify), catch: (cause) => cause })

/** Ends the pool; connections still checked out after `grace` are terminated on the server and destroyed. */
const close = (pool: pg.Pool, grace: Duration.Duration, config: pg.ClientConfig) =>
  Effect.gen(function*() {
    // pg-pool rejects a second end(), so both waits below share one.
    const ending = pool.end()
    // Finalizers run uninterruptibly: without `interruptible`, the timeouts below could not cut the wait short.
    const ended = Effect.interruptible(Effect.promise(() => ending))
    const done = yield* Effect.option(Effect.timeout(ended, grace))
    const stuck = PoolControl.checkedOut(pool)
    if (done._tag === "Some" || stuck.length === 0) return
    const pids = stuck.map((c) => (c as unknown as { processID: number }).processID)
    yield* Effect.tryPromise(async () => {
      const admin = new pg.Client(config)
      admin.on("error", () => {})
      await admin.connect()
      try {
        await admin.query("SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid", [pids])
      } finally {
        await admin.end()
      }
    }).pipe(Effect.interruptible, Effect.timeout(config.connectionTimeoutMillis ?? 5000), Effect.ignore)
    PoolControl.destroyAll(PoolControl.checkedOut(pool))
    yield* Effect.ignore(Effect.timeout(ended, "1 second"))
  })

/** `int8` as `bigint`, as @effect/sql-pg 4 decodes it, so code written for it reads the same values. */
const types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: "text" | "binary") => {
    if (oid === 20) return (text: string) => BigInt(text)
    if (oid === 1016) {
      const parse = pg.types.getTypeParser(1016 as never, "text") as (t: string) => Array<string | null>
      return (text: string) => parse(text).map((v) => v === null ? null : BigInt(v))
    }
    return pg.types.getTypeParser(oid, format ?? "text")
  }) as pg.CustomTypesConfig["getTypeParser"]
}

/** The pool's options: sizes and timeouts from the settings, and a client that answers a dead connection's waits. */
const poolOptions = (
  settings: PostgresSettings,
  config: pg.ClientConfig,
  maxPoolSize: number,
  minPoolSize: number
): pg.PoolConfig => {
  const statementTimeout = Duration.toMillis(settings.statementTimeout)
  return {
    ...config,
    types,
    max: maxPoolSize,
    min: minPoolSize,
    idleTimeoutMillis: Duration.toMillis(settings.maxIdleTime),
    maxLifetimeSeconds: Duration.toSeconds(settings.maxLifetime),
    // The pool's timeout bounds the wait for a free connection; the client's, one connect.
    connectionTimeoutMillis: Duration.toMillis(settings.poolTimeout),
    Client: class extends pg.Client {
      // pg-pool connects a client as soon as it makes one: the start of db.client.connection.create_time.
      readonly createdAt = performance.now()
      constructor(c?: pg.ClientConfig) {
        // pg-pool hides the password as a non-enumerable property, so a spread alone would drop it.
        super({ ...c, password: c?.password, connectionTimeoutMillis: config.connectionTimeoutMillis })
        PoolControl.answerWhenDead(this)
      }
    },
    ...(statementTimeout > 0 && settings.statementTimeoutMode === "set"
      ? {
        onConnect: (client: pg.ClientBase) => client.query(`SET statement_timeout = ${Math.round(statementTimeout)}`)
      }
      : {})
  }
}

/** Warms the pool and checks the host's role, retrying what can mend itself with the settings' backoff. */
const open = (
  warm: (n: number, verify: boolean) => Effect.Effect<PoolControl.Warmed, unknown>,
  host: string,
  role: Role,
  settings: PostgresSettings
) =>
  Effect.gen(function*() {
    let attempts = 0
    const attempt = Effect.gen(function*() {
      attempts++
      const verify = settings.statementTimeoutMode === "verify"
      const { standby, timeouts } = yield* warm(Math.max(1, settings.minPoolSize), verify).pipe(
        Effect.timeoutOrElse({
          duration: Duration.sum(settings.poolTimeout, settings.connectTimeout),
          orElse: () => Effect.fail(new Error(`no answer within ${Duration.format(settings.poolTimeout)}`))
        })
      )
      if (standby !== (role === "reader")) {
        return yield* new PostgresError({
          reason: "WrongRole",
          host,
          message: role === "reader"
            ? `${host} is listed in DB_READER_HOSTS but is a primary (pg_is_in_recovery() is false)`
            : `${host} is DB_WRITER_HOST but is a standby (pg_is_in_recovery() is true)`
        })
      }
      // The server sets the timeout (`verify`): a host whose connections run without it must not be used.
      const options = connectionOptions(settings)
      const mismatch = timeouts.map((row) => Connection.statementTimeoutMismatch(options, host, row)).find(Boolean)
      if (mismatch !== undefined) return yield* new PostgresError({ reason: "Misconfigured", host, message: mismatch })
    })
    const retryable = (e: unknown) => Failure.classify(e).kind !== "misconfiguration"
    const logged = Effect.tapError(attempt, (error) =>
      retryable(error) && attempts < settings.retryMaxAttempts
        ? Effect.logWarning("pgfleet: could not open pool, retrying").pipe(
          Effect.annotateLogs({
            host,
            role,
            attempt: attempts,
            of: settings.retryMaxAttempts,
            error: Failure.describe(error)
          })
        )
        : Effect.void)

    yield* logged.pipe(
      Effect.retry(retryPolicy(settings, retryable)),
      Effect.mapError((cause) => {
        if (cause instanceof PostgresError) return cause
        const failure = Failure.classify(cause)
        return failure.kind === "misconfiguration"
          ? new PostgresError({
            reason: "Misconfigured",
            host,
            message: Failure.misconfigurationMessage(failure.misconfigured, host, settings, cause),
            cause
          })
          : new PostgresError({
            reason: "ConnectFailed",
            host,
            message: `could not open the ${role} pool for ${host} after ${attempts} attempt(s): ${
              Failure.describe(cause)
            }`,
            cause
          })
      }),
      Effect.withSpan("pgfleet.pool.open", { attributes: { "pgfleet.host": host, "pgfleet.role": role } })
    )
  })

/**
 * Opens the pool for one host, warms `DB_MIN_POOL_SIZE` connections with
 * exponential backoff, verifies the host's role, and registers a finalizer
 * that closes it. Fails with a `PostgresError` naming the host.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { HostPool, PostgresConfig } from "@pgfleet/effect4"
 *
 * const inUse = PostgresConfig.make({ writerHosts: ["db"], username: "app", password: "secret" }).pipe(
 *   Effect.flatMap((settings) => HostPool.make({ address: settings.writers[0]!, role: "writer", settings })),
 *   Effect.map((pool) => pool.counts().inUse),
 *   Effect.scoped
 * )
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: MakeOptions): Effect.Effect<HostPool, PostgresError, Scope.Scope> =>
  Effect.gen(function*() {
    const { address, role, settings } = options
    const host = hostLabel(address)
    const config = clientConfig(settings, address)
    const context = yield* Effect.context<never>()
    const started = Date.now()

    const maxPoolSize = Settings.maxPoolSizeOf(address, settings)
    const sqlPgDriver = settings.driver === "sql-pg"
    // Under sql-pg, node-postgres keeps one lazy connection for pgfleet's own lookups.
    const pool = new pg.Pool(
      sqlPgDriver
        ? poolOptions(settings, config, 1, 0)
        : poolOptions(settings, config, maxPoolSize, settings.minPoolSize)
    )
    // A password that changes: a refused login asks its source again and tries once more, before any caller sees it.
    const credentials = connectionOptions(settings).credentials
    if (credentials !== undefined) Credentials.retryRefusedLogins(pool, credentials)
    // Without a listener, an idle client that dies (server restart, pg_terminate_backend) crashes the process.
    pool.on("error", (error) => {
      Effect.runForkWith(context)(
        Effect.logDebug("pgfleet: idle connection lost").pipe(
          Effect.annotateLogs({ host, role, error: Failure.describe(error) })
        )
      )
    })
    const tracked = PoolControl.track(pool, config)
    const { others } = tracked
    const createTime = PostgresMetrics.poolMetrics(PostgresMetrics.poolName(settings.fleetName, role, host)).createTime
    pool.on("connect", (client) => {
      const createdAt = (client as { createdAt?: number }).createdAt
      if (createdAt !== undefined) createTime.updateUnsafe((performance.now() - createdAt) / 1000, context)
    })

    yield* Effect.addFinalizer(() =>
      close(pool, settings.closeGrace, config).pipe(
        // A closed pool's host is no longer ours to use: `listen` reconnects to the current writer.
        Effect.andThen(Effect.sync(() => others.forEach(Connection.destroySocket))),
        Effect.withSpan("pgfleet.pool.close", { attributes: { "pgfleet.host": host, "pgfleet.role": role } })
      )
    )

    const sqlPg = sqlPgDriver
      ? yield* Effect.mapError(
        SqlPgPool.make(settings, address, maxPoolSize),
        (cause) => new PostgresError({ reason: "Misconfigured", host, message: Failure.describe(cause), cause })
      )
      : undefined
    yield* open(sqlPg === undefined ? warmPg(pool) : sqlPg.warm, host, role, settings)
    const abandoned = () =>
      new PostgresError({ reason: "Unavailable", host, message: PoolControl.abandonedMessage(host) })

    return {
      host,
      address,
      role,
      maxPoolSize,
      weight: Settings.weightOf(address),
      pgPool: pool,
      sqlPg,
      warmupTime: Duration.millis(Date.now() - started),
      counts: sqlPg === undefined
        ? () => ({
          total: pool.totalCount,
          idle: pool.idleCount,
          inUse: pool.totalCount - pool.idleCount,
          waiting: pool.waitingCount + PooledQuery.waitingBeyondPool(pool)
        })
        : () => {
          const { inUse, waiting } = sqlPg.gauges
          const total = sqlPg.sockets()
          return { total, idle: Math.max(0, total - inUse), inUse, waiting }
        },
      newClient: tracked.newClient,
      // sql-pg's pool shows no checked-out set: a host whose connections are dropped loses all of them.
      dropCheckedOut: () => {
        tracked.dropCheckedOut()
        sqlPg?.destroy(abandoned())
      },
      abandon: () => {
        tracked.abandon(abandoned())
        sqlPg?.destroy(abandoned())
      },
      recycle: () => {
        tracked.recycle()
        sqlPg?.destroy(new Error(`${host}: connections recycled (its name may point elsewhere now)`))
      }
    } satisfies HostPool
  })
