/**
 * One host's pool on @effect/sql-pg 4's own driver (`DB_DRIVER=sql-pg`):
 * its `PgPool`, over sockets pgfleet opens itself so that a silent host's
 * connections can be ended at once, and the gauges sql-pg's pool does not
 * keep.
 */
import type * as PgConnection from "@effect/sql-pg/PgConnection"
import * as PgPool from "@effect/sql-pg/PgPool"
import type { PoolControl } from "@pgfleet/core"
import { Connection } from "@pgfleet/core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import type { SqlError } from "effect/sql/SqlError"
import * as Net from "node:net"
import type { HostAddress, PostgresSettings } from "../PostgresConfig.js"
import { connectionOptions } from "./postgresConfig.js"
import * as SqlPgAdmission from "./sqlPgAdmission.js"

/** What pgfleet counts of a `PgPool`, which keeps no statistics: updated by the statements that use it. */
export interface Gauges {
  /** Statements waiting for a connection. */
  waiting: number
  /** Connections checked out (shared ones counted once per statement under `DB_MULTIPLEX`). */
  inUse: number
}

/** A host's sql-pg pool and what pgfleet keeps beside it. */
export interface SqlPgPool {
  readonly pool: PgPool.PgPool
  readonly gauges: Gauges
  /**
   * `DB_POOL_TIMEOUT` on waits for a connection, which sql-pg does not bound;
   * `undefined` under `DB_MULTIPLEX`, where statements share connections.
   */
  readonly admission: SqlPgAdmission.Admission | undefined
  /** Sockets open to the host now. */
  readonly sockets: () => number
  /** Ends every socket to the host with `error`: what runs on it fails at once, and the pool replaces it. */
  readonly destroy: (error: Error) => void
  /**
   * `DB_POOL_MAX_LIFETIME_SECONDS`: retires `connection` once it has lived
   * that long (`now` from `performance.now()`), after the statement that
   * found it so. sql-pg's own `connectionTTL` would take every statement
   * off `PgPool.use`'s fast path (a scope per checkout).
   */
  readonly retireIfOld: (connection: PgConnection.PgConnection, now: number) => void
  /** Checks `n` connections out at once and asks the first for its role (and each for its timeout when `verify`). */
  readonly warm: (n: number, verify: boolean) => Effect.Effect<PoolControl.Warmed, SqlError>
}

/** sql-pg's connection settings for one host, from pgfleet's. */
const config = (settings: PostgresSettings, address: HostAddress, maxPoolSize: number, stream: () => Net.Socket) => {
  const options = connectionOptions(settings)
  const credentials = options.credentials
  const timeoutMs = Duration.toMillis(settings.statementTimeout)
  return {
    host: address.host,
    port: address.port,
    database: settings.database,
    username: settings.username,
    password: credentials === undefined
      ? Redacted.make(options.password())
      : Effect.map(Effect.promise(() => credentials.password()), Redacted.make),
    ssl: Connection.tlsOptions(options),
    applicationName: settings.applicationName,
    connectTimeout: settings.connectTimeout,
    stream,
    multiplex: settings.multiplex,
    maxConnections: maxPoolSize,
    minConnections: settings.minPoolSize,
    idleTimeout: settings.maxIdleTime,
    ...(timeoutMs > 0 && settings.statementTimeoutMode === "startup"
      ? { startupParameters: { statement_timeout: String(Math.round(timeoutMs)) } }
      : {})
  } satisfies PgPool.Config
}

/**
 * Opens the pool in a scope of its own, closed with the caller's: its
 * connections get `DB_POOL_CLOSE_GRACE_MS` to finish, then their sockets are
 * destroyed, so closing never waits on a silent host.
 */
export const make = (
  settings: PostgresSettings,
  address: HostAddress,
  maxPoolSize: number
): Effect.Effect<SqlPgPool, SqlError, Scope.Scope> =>
  Effect.gen(function*() {
    const sockets = new Set<Net.Socket>()
    const keepAliveMs = Duration.toMillis(settings.keepAliveIdle)
    const stream = () => {
      const socket = Net.connect({
        host: address.host,
        port: address.port,
        noDelay: true,
        keepAlive: true,
        keepAliveInitialDelay: keepAliveMs
      })
      sockets.add(socket)
      socket.once("close", () => sockets.delete(socket))
      return socket
    }
    const destroy = (error: Error) => {
      for (const socket of sockets) socket.destroy(error)
    }
    const outer = yield* Effect.scope
    const own = yield* Scope.fork(outer, "sequential")
    yield* Scope.addFinalizer(
      outer,
      Effect.gen(function*() {
        const closing = Effect.interruptible(Scope.close(own, Exit.void))
        const closed = yield* Effect.option(Effect.timeout(closing, settings.closeGrace))
        if (closed._tag === "Some") return
        destroy(new Error(`the pool of ${address.host}:${address.port} closed`))
        yield* Effect.ignore(Effect.timeout(Effect.interruptible(Scope.close(own, Exit.void)), "1 second"))
      })
    )
    const pool = yield* Scope.provide(PgPool.make(config(settings, address, maxPoolSize, stream)), own)

    const warm = (n: number, verify: boolean): Effect.Effect<PoolControl.Warmed, SqlError> =>
      Effect.scoped(Effect.gen(function*() {
        const connections = yield* Effect.forEach(Array.from({ length: n }), () => pool.reserve, {
          concurrency: "unbounded"
        })
        const [first] = yield* connections[0]!.query("SELECT pg_is_in_recovery() AS standby").pipe(
          Effect.map((result) => result.rows as ReadonlyArray<{ standby: boolean }>)
        )
        const timeouts = verify
          ? yield* Effect.forEach(connections, (c) =>
            Effect.map(
              c.query(Connection.STATEMENT_TIMEOUT_SQL),
              (result) => result.rows[0] as unknown as Connection.StatementTimeoutRow
            ))
          : []
        return { standby: first!.standby, timeouts }
      }))

    const lifetimeMs = Duration.toMillis(settings.maxLifetime)
    const firstLent = new WeakMap<PgConnection.PgConnection, number>()
    const retireIfOld = (connection: PgConnection.PgConnection, now: number) => {
      if (lifetimeMs === 0) return
      const since = firstLent.get(connection)
      if (since === undefined) firstLent.set(connection, now)
      else if (now - since >= lifetimeMs) {
        firstLent.delete(connection)
        Effect.runFork(pool.invalidate(connection))
      }
    }

    return {
      pool,
      gauges: { waiting: 0, inUse: 0 },
      admission: settings.multiplex
        ? undefined
        : SqlPgAdmission.make(maxPoolSize, Duration.toMillis(settings.poolTimeout)),
      retireIfOld,
      sockets: () => sockets.size,
      destroy,
      warm
    } satisfies SqlPgPool
  })
