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
import type pg from "pg"
import type { HostPool } from "../HostPool.js"
import type { PostgresSettings } from "../PostgresConfig.js"
import { PostgresError } from "../PostgresError.js"
import * as PostgresMetrics from "../PostgresMetrics.js"
import * as ReaderRouter from "../ReaderRouter.js"
import type { Failure } from "./failures.js"
import { classify, isHostEvidence, misconfigurationMessage, toSqlError } from "./failures.js"
import * as pgQuery from "./pgQuery.js"

const noTags: ReadonlyArray<never> = []

/** Where one statement should run, and why (`route` tags the reads-routed counter). */
export interface Target {
  readonly pool: HostPool
  readonly route: string
}

export interface Options {
  /** Picks the host for one statement, passing over hosts that already failed it. Synchronous: it runs on every statement. */
  readonly pick: (exclude: ReadonlyArray<string>, minimumPosition: bigint | undefined) => Target | PostgresError
  /** Reads: count each statement in `pgfleet_reads_routed_total`, and run one that failed with a connection-class error once more, elsewhere. */
  readonly reads: boolean
  /** Told of every failure, so the health monitor can mark the host down at once. */
  readonly onFailure: (pool: HostPool, cause: SqlError) => Effect.Effect<void>
  readonly settings: PostgresSettings
}

/**
 * A `SqlClient` whose every statement outside a transaction asks `pick` for
 * a host and runs on a connection checked out from that host's pool for that
 * statement alone. A transaction reserves one connection and stays on it.
 */
export const make = (options: Options): Effect.Effect<SqlClient.SqlClient, never, Reactivity.Reactivity> => {
  const counters = new Map<HostPool, Map<string, Metric.Metric.Counter<number>>>()
  /** Counted synchronously: this runs on every read, and a cached counter needs no fiber work. */
  const countRead = (pool: HostPool, route: string) => {
    let byRoute = counters.get(pool)
    if (byRoute === undefined) counters.set(pool, byRoute = new Map())
    let counter = byRoute.get(route)
    if (counter === undefined) byRoute.set(route, counter = PostgresMetrics.readsRoutedTo(pool.host, route))
    counter.unsafeUpdate(1, noTags)
  }

  const pick = (exclude: ReadonlyArray<string>): Effect.Effect<Target, SqlError> =>
    Effect.withFiberRuntime((fiber) => {
      const target = options.pick(exclude, fiber.getFiberRef(ReaderRouter.currentMinimumPosition))
      return target instanceof PostgresError ? Effect.fail(toSqlError(target)) : Effect.succeed(target)
    })

  const acquireTimeouts = new Map<HostPool, Metric.Metric.Counter<number>>()
  const countAcquireTimeout = (pool: HostPool) => {
    let counter = acquireTimeouts.get(pool)
    if (counter === undefined) {
      acquireTimeouts.set(
        pool,
        counter = Metric.tagged(Metric.tagged(PostgresMetrics.acquireTimeouts, "host", pool.host), "role", pool.role)
      )
    }
    counter.unsafeUpdate(1, noTags)
  }

  /** Overload and misconfiguration as typed errors naming the host and what to tune or fix; others unchanged. */
  const typedError = (pool: HostPool, cause: SqlError, failure: Failure): SqlError => {
    if (failure.kind === "overload") {
      countAcquireTimeout(pool)
      const { inUse, waiting } = pool.counts()
      const what = failure.code === "53300"
        ? `${pool.host} refused a new connection (too many connections, 53300)`
        : `no connection to ${pool.host} became free within ${
          Duration.format(options.settings.poolTimeout)
        } (DB_POOL_TIMEOUT)`
      return toSqlError(
        new PostgresError({
          reason: "AcquireTimeout",
          host: pool.host,
          message: `${what}; ${inUse} in use, ${waiting} waiting`,
          cause
        })
      )
    }
    if (failure.kind === "misconfiguration" && failure.misconfigured !== "role") {
      return toSqlError(
        new PostgresError({
          reason: "Misconfigured",
          host: pool.host,
          message: misconfigurationMessage(failure.misconfigured, pool.host, options.settings, cause),
          cause
        })
      )
    }
    return cause
  }
  const typed = <A, R>(pool: HostPool, effect: Effect.Effect<A, SqlError, R>) =>
    Effect.mapError(effect, (cause) => typedError(pool, cause, classify(cause)))

  /** A connection reserved from the target's pool for a scope (transactions and streams). */
  const reserve = (target: Target): Effect.Effect<Connection, SqlError, Scope.Scope> =>
    typed(target.pool, target.pool.client.reserve)

  type Run = (pool: HostPool) => Effect.Effect<pg.QueryResult, SqlError>

  /**
   * Runs on the target. A failure is told to the health monitor; a
   * connection-class failure of a read is run once more on another host.
   */
  const runOn = (
    target: Target,
    run: Run,
    exclude: ReadonlyArray<string>,
    minimumPosition: bigint | undefined
  ): Effect.Effect<pg.QueryResult, SqlError> => {
    if (options.reads) countRead(target.pool, target.route)
    return Effect.catchAll(run(target.pool), (cause) => {
      const failure = classify(cause)
      const error = typedError(target.pool, cause, failure)
      const report = options.onFailure(target.pool, error)
      if (!options.reads || exclude.length > 0 || !isHostEvidence(failure.kind)) {
        return Effect.zipRight(report, Effect.fail(error))
      }
      const second = options.pick([target.pool.host], minimumPosition)
      if (second instanceof PostgresError) return Effect.zipRight(report, Effect.fail(toSqlError(second)))
      return report.pipe(
        Effect.zipRight(
          Effect.logDebug(`pgfleet: read failed on ${target.pool.host}, retrying on ${second.pool.host}`)
        ),
        Effect.annotateLogs({ error: error.message }),
        Effect.zipRight(Metric.increment(Metric.tagged(PostgresMetrics.readRetries, "host", target.pool.host))),
        Effect.zipRight(
          runOn({ pool: second.pool, route: "retry" }, run, [target.pool.host], minimumPosition).pipe(
            Effect.withSpan("pgfleet.read.retry", {
              kind: "client",
              captureStackTrace: false,
              attributes: { "pgfleet.failed_host": target.pool.host, "pgfleet.host": second.pool.host }
            })
          )
        )
      )
    })
  }

  const noExclusions: ReadonlyArray<string> = []
  const routed = (run: Run): Effect.Effect<pg.QueryResult, SqlError> =>
    Effect.withFiberRuntime((fiber) => {
      const minimumPosition = fiber.getFiberRef(ReaderRouter.currentMinimumPosition)
      const target = options.pick(noExclusions, minimumPosition)
      return target instanceof PostgresError
        ? Effect.fail(toSqlError(target))
        : runOn(target, run, noExclusions, minimumPosition)
    })

  const statement = (sql: string, params: ReadonlyArray<unknown>, rowMode?: "array"): Run => (pool) =>
    pgQuery.query(pool.pgPool, sql, params, rowMode)

  /** Rows, or one array of rows a statement for multi-statement text. */
  const rowsOf = (result: pg.QueryResult): ReadonlyArray<any> =>
    Array.isArray(result) ? result.map((r: pg.QueryResult) => r.rows ?? []) : result.rows ?? []

  const execute = (
    sql: string,
    params: ReadonlyArray<unknown>,
    transformRows: (<A extends object>(row: ReadonlyArray<A>) => ReadonlyArray<A>) | undefined
  ) =>
    Effect.map(
      routed(statement(sql, params)),
      (result) => transformRows ? transformRows(rowsOf(result)) : rowsOf(result)
    )

  const connection: Connection = {
    execute,
    executeUnprepared: execute,
    executeRaw: (sql, params) => routed(statement(sql, params)),
    executeValues: (sql, params) => Effect.map(routed(statement(sql, params, "array")), (r) => r.rows),
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
