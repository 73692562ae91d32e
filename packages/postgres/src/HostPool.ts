/**
 * One `pg.Pool` for one host, opened, warmed and role-checked when its scope
 * opens, and closed within a bounded time when it closes.
 *
 * @since 0.1.0
 */
import type * as Reactivity from "@effect/experimental/Reactivity"
import * as PgClient from "@effect/sql-pg/PgClient"
import { Connection, Credentials, Failure, PoolControl, PooledQuery, Settings } from "@pgfleet/core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Runtime from "effect/Runtime"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import pg from "pg"
import { clientConfig, connectionOptions } from "./internal/postgresConfig.js"
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
 * @since 0.1.0
 * @category models
 */
export interface HostPool {
  /** `host:port`. */
  readonly host: string
  readonly address: HostAddress
  readonly role: Role
  /** Most connections the pool opens: the host's own `;max=N`, else `DB_MAX_POOL_SIZE`. */
  readonly maxPoolSize: number
  /** A replica's share of reads against the others (`;weight=N`, else 1). */
  readonly weight: number
  /** The `@effect/sql-pg` client over this host's pool. */
  readonly client: PgClient.PgClient
  /** The node-postgres pool underneath. */
  readonly pgPool: pg.Pool
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
   * everything that waits on it. Every connection is destroyed, never
   * returned (a running statement fails, and a write's outcome is then
   * unknown); callers waiting for a connection fail with `Unavailable`, as
   * never sent; connections being opened are dropped. The pool stays open
   * and connects again on the next checkout.
   */
  readonly abandon: () => void
  /**
   * Drops every pooled connection: idle ones now, checked-out ones when
   * released, so new connections resolve the host name again (a DNS or VIP flip).
   */
  readonly recycle: () => void
}

/**
 * @since 0.1.0
 * @category models
 */
export interface MakeOptions {
  /** The host, with its per-host settings when it has any (an entry of `settings.readers` or `writers`). */
  readonly address: Settings.HostEntry
  readonly role: Role
  readonly settings: PostgresSettings
}

/**
 * The retry schedule for opening a pool: exponential from
 * `DB_CONNECT_RETRY_BASE_MS` with jitter, each delay capped at
 * `DB_CONNECT_RETRY_MAX_DELAY_MS`, at most `DB_CONNECT_RETRY_MAX_ATTEMPTS`
 * attempts in all. Its output is the next delay.
 *
 * @since 0.1.0
 * @category schedules
 */
export const retrySchedule = (settings: PostgresSettings): Schedule.Schedule<Duration.Duration, unknown> =>
  Schedule.exponential(settings.retryBase).pipe(
    Schedule.jittered,
    Schedule.modifyDelay((d) => Duration.min(d, settings.retryMaxDelay)),
    Schedule.intersect(Schedule.recurs(settings.retryMaxAttempts - 1)),
    Schedule.delays
  )

/** Warms the pool (see core's `PoolControl.warm`). */
const warmOnce = (pool: pg.Pool, n: number, verify: boolean) =>
  Effect.tryPromise({ try: () => PoolControl.warm(pool, n, verify), catch: (cause) => cause })

/** Ends the pool; connections still checked out after `grace` are terminated on the server and destroyed. */
const close = (pool: pg.Pool, grace: Duration.Duration, config: pg.ClientConfig) =>
  Effect.gen(function*() {
    // pg-pool rejects a second end(), so both waits below share one.
    const ending = pool.end()
    // Finalizers run uninterruptibly: without `interruptible`, the timeouts below could not cut the wait short.
    const ended = Effect.interruptible(Effect.promise(() => ending))
    const done = yield* Effect.timeout(ended, grace).pipe(Effect.option)
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
    yield* Effect.timeout(ended, "1 second").pipe(Effect.ignore)
  })

/** The pool's options: sizes and timeouts from the settings, and a client that answers a dead connection's waits. */
const poolOptions = (settings: PostgresSettings, config: pg.ClientConfig, max: number): pg.PoolConfig => {
  const statementTimeout = Duration.toMillis(settings.statementTimeout)
  return {
    ...config,
    max,
    min: settings.minPoolSize,
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

/**
 * Warms the pool and checks the host's role, retrying what can mend itself
 * with the settings' backoff; the log line runs only when another attempt follows.
 */
const open = (pool: pg.Pool, host: string, role: Role, settings: PostgresSettings) =>
  Effect.gen(function*() {
    let attempts = 0
    let lastError: unknown
    const attempt = Effect.gen(function*() {
      attempts++
      const verify = settings.statementTimeoutMode === "verify"
      const { standby, timeouts } = yield* warmOnce(pool, Math.max(1, settings.minPoolSize), verify).pipe(
        Effect.timeoutFail({
          duration: Duration.sum(settings.poolTimeout, settings.connectTimeout),
          onTimeout: () => new Error(`no answer within ${Duration.format(settings.poolTimeout)}`)
        }),
        Effect.tapError((error) => Effect.sync(() => (lastError = error)))
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

    // Retries only what can mend itself; the log line runs only when another attempt follows.
    const retries = retrySchedule(settings).pipe(
      Schedule.whileInput((e: unknown) => Failure.classify(e).kind !== "misconfiguration"),
      Schedule.modifyDelayEffect((_, delay) =>
        Effect.logWarning("pgfleet: could not open pool, retrying").pipe(
          Effect.annotateLogs({
            host,
            role,
            attempt: attempts,
            of: settings.retryMaxAttempts,
            nextDelay: Duration.format(delay),
            error: Failure.describe(lastError)
          }),
          Effect.as(delay)
        )
      )
    )

    yield* attempt.pipe(
      Effect.retry(retries),
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
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: MakeOptions
): Effect.Effect<HostPool, PostgresError, Scope.Scope | Reactivity.Reactivity> =>
  Effect.gen(function*() {
    const { address, role, settings } = options
    const host = hostLabel(address)
    const config = clientConfig(settings, address)
    const runtime = yield* Effect.runtime<never>()
    const started = Date.now()

    const maxPoolSize = Settings.maxPoolSizeOf(address, settings)
    const pool = new pg.Pool(poolOptions(settings, config, maxPoolSize))
    // A password that changes: a refused login asks its source again and tries once more, before any caller sees it.
    const credentials = connectionOptions(settings).credentials
    if (credentials !== undefined) Credentials.retryRefusedLogins(pool, credentials)
    // Without a listener, an idle client that dies (server restart, pg_terminate_backend) crashes the process.
    pool.on("error", (error) => {
      Runtime.runFork(runtime)(
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
      if (createdAt !== undefined) createTime.unsafeUpdate((performance.now() - createdAt) / 1000, [])
    })

    yield* Effect.addFinalizer(() =>
      close(pool, settings.closeGrace, config).pipe(
        // A closed pool's host is no longer ours to use: `listen` reconnects to the current writer.
        Effect.zipRight(Effect.sync(() => others.forEach(Connection.destroySocket))),
        Effect.withSpan("pgfleet.pool.close", { attributes: { "pgfleet.host": host, "pgfleet.role": role } })
      )
    )

    yield* open(pool, host, role, settings)

    const client = yield* PgClient.fromPool({
      acquire: Effect.succeed(pool),
      applicationName: settings.applicationName,
      spanAttributes: { "pgfleet.host": host, "pgfleet.role": role }
    }).pipe(Effect.orDie)

    return {
      host,
      address,
      role,
      maxPoolSize,
      weight: Settings.weightOf(address),
      client,
      pgPool: pool,
      warmupTime: Duration.millis(Date.now() - started),
      counts: () => ({
        total: pool.totalCount,
        idle: pool.idleCount,
        inUse: pool.totalCount - pool.idleCount,
        waiting: pool.waitingCount + PooledQuery.waitingBeyondPool(pool)
      }),
      newClient: tracked.newClient,
      dropCheckedOut: tracked.dropCheckedOut,
      abandon: () =>
        tracked.abandon(
          new PostgresError({ reason: "Unavailable", host, message: PoolControl.abandonedMessage(host) })
        ),
      recycle: tracked.recycle
    } satisfies HostPool
  })
