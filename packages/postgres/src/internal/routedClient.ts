import type * as Reactivity from "@effect/experimental/Reactivity"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import type { Connection } from "@effect/sql/SqlConnection"
import type { SqlError } from "@effect/sql/SqlError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { HostPool } from "../HostPool.js"
import { PostgresError } from "../PostgresError.js"
import * as PostgresMetrics from "../PostgresMetrics.js"
import { isAcquireTimeout, isConnectionError, toSqlError } from "./errors.js"

/** Where one statement should run, and why. */
export interface Target {
  readonly pool: HostPool
  readonly route: string
  readonly skipped?: ReadonlyArray<{ readonly host: string; readonly reason: string }> | undefined
}

export interface Options {
  /** Picks the host for one statement, passing over hosts that already failed it. */
  readonly pick: (exclude: ReadonlyArray<string>) => Effect.Effect<Target, PostgresError>
  /** Run a statement that failed with a connection-class error once more, elsewhere (reads only). */
  readonly retryElsewhere: boolean
  /** Told of every failure, so the health monitor can mark the host down at once. */
  readonly onFailure: (pool: HostPool, cause: SqlError) => Effect.Effect<void>
  readonly poolTimeout: Duration.Duration
}

/**
 * A `SqlClient` whose every statement outside a transaction asks `pick` for
 * a host and runs on a connection reserved from that host's pool. A
 * transaction reserves one connection and stays on it.
 */
export const make = (options: Options): Effect.Effect<SqlClient.SqlClient, never, Reactivity.Reactivity> => {
  const counters = new Map<string, Metric.Metric.Counter<number>>()
  const countRead = (host: string, route: string) => {
    const key = `${host}\u0000${route}`
    let counter = counters.get(key)
    if (counter === undefined) {
      counter = PostgresMetrics.readsRouted.pipe(Metric.tagged("host", host), Metric.tagged("route", route))
      counters.set(key, counter)
    }
    return Metric.increment(counter)
  }

  const pick = (exclude: ReadonlyArray<string>) => Effect.mapError(options.pick(exclude), toSqlError)

  /** A connection reserved from the target's pool, with pg-pool's timeout turned into a typed error. */
  const reserve = (target: Target): Effect.Effect<Connection, SqlError, Scope.Scope> =>
    Effect.catchIf(target.pool.client.reserve, isAcquireTimeout, (cause) => {
      const { inUse, waiting } = target.pool.counts()
      return Effect.fail(toSqlError(
        new PostgresError({
          reason: "AcquireTimeout",
          host: target.pool.host,
          message: `no connection to ${target.pool.host} became free within ${
            Duration.format(options.poolTimeout)
          } (DB_POOL_TIMEOUT); ${inUse} in use, ${waiting} waiting`,
          cause
        })
      ))
    })

  const runOn = <A>(target: Target, f: (connection: Connection) => Effect.Effect<A, SqlError>) =>
    Effect.annotateCurrentSpan({
      "pgfleet.host": target.pool.host,
      "pgfleet.role": target.pool.role,
      "pgfleet.route": target.route,
      ...(target.skipped?.length
        ? { "pgfleet.skipped": target.skipped.map((s) => `${s.host}:${s.reason}`).join(",") }
        : {})
    }).pipe(
      Effect.zipRight(countRead(target.pool.host, target.route)),
      Effect.zipRight(Effect.scoped(Effect.flatMap(reserve(target), f))),
      Effect.tapError((error) => options.onFailure(target.pool, error))
    )

  const run = <A>(f: (connection: Connection) => Effect.Effect<A, SqlError>): Effect.Effect<A, SqlError> =>
    Effect.flatMap(pick([]), (first) => {
      const once = runOn(first, f)
      if (!options.retryElsewhere) return once
      return Effect.catchIf(
        once,
        isConnectionError,
        (error) =>
          Effect.flatMap(
            pick([first.pool.host]),
            (second) =>
              Effect.logDebug(`pgfleet: read failed on ${first.pool.host}, retrying on ${second.pool.host}`).pipe(
                Effect.annotateLogs({ error: error.message }),
                Effect.zipRight(Metric.increment(Metric.tagged(PostgresMetrics.readRetries, "host", first.pool.host))),
                Effect.zipRight(runOn({ ...second, route: "retry" }, f))
              )
          )
      )
    })

  const connection: Connection = {
    execute: (sql, params, transformRows) => run((c) => c.execute(sql, params, transformRows)),
    executeRaw: (sql, params) => run((c) => c.executeRaw(sql, params)),
    executeValues: (sql, params) => run((c) => c.executeValues(sql, params)),
    executeUnprepared: (sql, params, transformRows) => run((c) => c.executeUnprepared(sql, params, transformRows)),
    // A stream holds its connection while it is read, so it is not retried.
    executeStream: (sql, params, transformRows) =>
      Stream.unwrapScoped(
        Effect.flatMap(pick([]), (target) =>
          Effect.map(reserve(target), (c) => c.executeStream(sql, params, transformRows)))
      )
  }

  return SqlClient.make({
    acquirer: Effect.succeed(connection),
    transactionAcquirer: Effect.flatMap(pick([]), reserve),
    compiler: PgClient.makeCompiler(),
    spanAttributes: [["db.system.name", "postgresql"]]
  })
}
