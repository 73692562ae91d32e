/**
 * The routed `PgClient`s behind `pg.writer`, `pg.reader` and `pg.auto`: each statement picks its host,
 * runs on a connection of its own, reports failures to health and is retried elsewhere when it reads.
 */
import type * as Reactivity from "@effect/experimental/Reactivity"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import type { Connection } from "@effect/sql/SqlConnection"
import type { SqlError } from "@effect/sql/SqlError"
import * as Statement from "@effect/sql/Statement"
import { Failure } from "@pgfleet/core"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Runtime from "effect/Runtime"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as String from "effect/String"
import type * as Tracer from "effect/Tracer"
import type pg from "pg"
import type { HostPool } from "../../HostPool.js"
import type { PostgresSettings } from "../../PostgresConfig.js"
import { PostgresError } from "../../PostgresError.js"
import * as PostgresMetrics from "../../PostgresMetrics.js"
import * as ReaderRouter from "../../ReaderRouter.js"
import { connectionUrl } from "../postgresConfig.js"
import * as Counters from "./counters.js"
import type { Operation, Runner } from "./fleetStatement.js"
import { wrapConstructor } from "./fleetStatement.js"
import type { Listener } from "./listen.js"
import * as pgQuery from "./pgQuery.js"
import * as StatementErrors from "./statementErrors.js"

/** Where one statement should run, and why (span attributes and the reads-routed counter). */
export interface Target {
  readonly pool: HostPool
  readonly route: string
  readonly strategy?: string | undefined
  readonly skipped?: ReadonlyArray<{ readonly host: string; readonly reason: string }> | undefined
  /** A read: counted, and retried elsewhere after a connection failure. Defaults to the client's `reads`. */
  readonly read?: boolean | undefined
  /** `pg.auto`: why the statement went where it did (`parsed-read`, `lock-clause`, ...). */
  readonly reason?: string | undefined
  /** `pg.auto`: the statement is DDL. */
  readonly ddl?: boolean | undefined
}

export interface Options {
  /** `writer` or `reader`: the span's `pgfleet.client`. */
  readonly name: string
  /**
   * Picks the host for one statement (`sql` is undefined for a transaction or
   * `reserve`), passing over hosts that already failed it. Synchronous: it
   * runs on every statement.
   */
  readonly pick: (
    exclude: ReadonlyArray<string>,
    minimumPosition: bigint | undefined,
    sql: string | undefined
  ) => Target | PostgresError
  /** Work a statement needs before `pick` (`pg.auto`: classify, read-your-writes); `undefined` when none. */
  readonly prepare?:
    | ((sql: string, fiber: Fiber.RuntimeFiber<unknown, unknown>) => Effect.Effect<void, SqlError> | undefined)
    | undefined
  /** Work after a statement succeeded on `target` (`pg.auto`: note the write). */
  readonly succeeded?: ((target: Target) => Effect.Effect<void> | undefined) | undefined
  /** Reads: count each statement in `pgfleet_reads_routed_total`, and run one that failed with a connection-class error once more, elsewhere. */
  readonly reads: boolean
  /** Told of every failure, so the health monitor can probe the host at once. */
  readonly onFailure: (pool: HostPool, cause: unknown) => Effect.Effect<void>
  readonly settings: PostgresSettings
  /** The primary, for `config`. */
  readonly writer: HostPool
  /** The fleet's `LISTEN` connection, to the primary: a standby never delivers notifications. */
  readonly listener: Listener
  /** The writer client, for `notify` on the reader; the writer client notifies through itself. */
  readonly notifyVia?: SqlClient.SqlClient | undefined
}

type Run = (pool: HostPool) => Effect.Effect<pg.QueryResult, SqlError>

const PgJson = Statement.custom<PgClient.PgCustom>("PgJson")

/**
 * A client's statement path without Effect, for pgfleet's `pg.Pool`
 * adapters: the same picks, counters, health reports and errors, run by
 * plain callbacks so a query costs what node-postgres's own does.
 */
export interface Direct {
  /** The host for one statement, synchronously. */
  readonly pick: (exclude: ReadonlyArray<string>, sql: string) => Target | PostgresError
  /** Reads: counted, and retried once elsewhere after a connection-class failure. */
  readonly reads: boolean
  readonly countRead: (target: Target) => void
  readonly countRetry: (failed: HostPool) => void
  /** Tells the health monitor of a failure, without waiting. */
  readonly report: (pool: HostPool, cause: unknown) => void
  /** What a failure becomes for the caller: a `PostgresError`, or the cause itself. */
  readonly error: (target: Target, read: boolean, cause: unknown, failure: Failure.Failure, sent: boolean) => unknown
}

const directs = new WeakMap<object, Direct>()

/** The statement path of a client made by {@link make}, without Effect. */
export const directOf = (client: PgClient.PgClient): Direct => directs.get(client)!

/** The name transforms: the code's functions, else `DB_NAME_TRANSFORM`. */
const transformsOf = (settings: PostgresSettings) => {
  const snakeCamel = settings.nameTransform === "snake-camel"
  return {
    query: settings.transformQueryNames ?? (snakeCamel ? String.camelToSnake : undefined),
    result: settings.transformResultNames ?? (snakeCamel ? String.snakeToCamel : undefined)
  }
}

/** The span attributes of where a statement ran, and why. */
const annotate = (span: Tracer.Span, target: Target) => {
  span.attribute("server.address", target.pool.address.host)
  span.attribute("server.port", target.pool.address.port)
  span.attribute("pgfleet.route", target.route)
  if (target.strategy !== undefined) span.attribute("pgfleet.strategy", target.strategy)
  if (target.reason !== undefined) {
    span.attribute("pgfleet.classification", target.read ? "read" : "write")
    span.attribute("pgfleet.reason", target.reason)
  }
  if (target.skipped !== undefined && target.skipped.length > 0) {
    span.attribute("pgfleet.skipped", target.skipped.map((s) => `${s.host}:${s.reason}`).join(","))
  }
}

/** Rows, or one array of rows a statement for multi-statement text. */
const rowsOf = (result: pg.QueryResult): ReadonlyArray<any> =>
  Array.isArray(result) ? result.map((r: pg.QueryResult) => r.rows ?? []) : result.rows ?? []

/**
 * Inside a transaction, a statement joins its connection; with a statement
 * transformer installed, @effect/sql applies it. Both run @effect/sql's own
 * execution, on a connection of the picked host.
 */
const bySqlClient = (fiber: Fiber.RuntimeFiber<unknown, unknown>) =>
  Context.getOption(fiber.currentContext, SqlClient.TransactionConnection)._tag === "Some" ||
  fiber.getFiberRef(Statement.currentTransformer)._tag === "Some"

/** `PgClient.config`. The writer's address is read when asked: it changes when writes follow a promotion. */
const pgClientConfig = (
  settings: PostgresSettings,
  writer: HostPool,
  transforms: ReturnType<typeof transformsOf>
): PgClient.PgClientConfig => ({
  get url() {
    return connectionUrl(settings, writer.address)
  },
  get host() {
    return writer.address.host
  },
  get port() {
    return writer.address.port
  },
  database: settings.database,
  username: settings.username,
  password: settings.password,
  ssl: settings.ssl !== "disable",
  applicationName: settings.applicationName,
  maxConnections: settings.maxPoolSize,
  minConnections: settings.minPoolSize,
  idleTimeout: settings.maxIdleTime,
  connectTimeout: settings.connectTimeout,
  transformQueryNames: transforms.query,
  transformResultNames: transforms.result,
  transformJson: settings.transformJson,
  types: settings.types
})

/**
 * What @effect/sql's statements run through: outside a transaction, the
 * statement path; inside one, or with a statement transformer installed,
 * @effect/sql's own execution on the held connection.
 */
const runnerOf = (
  traced: (
    fiber: Fiber.RuntimeFiber<unknown, unknown>,
    operation: Operation,
    sql: string,
    makeRun: (onInterrupt: pgQuery.OnInterrupt) => Run
  ) => Effect.Effect<pg.QueryResult, SqlError>,
  reserve: Effect.Effect<Connection, SqlError, Scope.Scope>,
  cancelGraceMs: number
): Runner => {
  return {
    run: (operation, statement, withoutTransform, rows, viaSqlClient) =>
      Effect.withFiberRuntime((fiber) => {
        if (bySqlClient(fiber)) return viaSqlClient()
        const [sql, params] = statement.compile(withoutTransform)
        const rowMode = operation === "executeValues" ? "array" : undefined
        const result = traced(
          fiber,
          operation,
          sql,
          (onInterrupt) => (pool) => pgQuery.query(pool.pgPool, sql, params, rowMode, cancelGraceMs, onInterrupt)
        )
        switch (operation) {
          case "executeRaw":
            return result as Effect.Effect<any, SqlError>
          case "executeValues":
            return Effect.map(result, (r) => r.rows)
          default:
            return Effect.map(result, (r) => rows ? rows(rowsOf(r)) : rowsOf(r)) as Effect.Effect<any, SqlError>
        }
      }),
    // A stream holds its connection while it is read, so it is not retried.
    stream: (statement, rows, viaSqlClient) =>
      Stream.unwrapScoped(Effect.withFiberRuntime((fiber) => {
        if (bySqlClient(fiber)) return Effect.succeed(viaSqlClient())
        const [sql, params] = statement.compile()
        return Effect.map(reserve, (c) => c.executeStream(sql, params, rows) as Stream.Stream<any, SqlError>)
      }))
  }
}

/**
 * The statement path of one client: each statement outside a transaction
 * picks its host, runs in an `sql.execute` span on a connection of its own,
 * reports failures and, when it reads, is retried once elsewhere.
 */
const statementPath = (options: Options, runtime: Runtime.Runtime<never>) => {
  const { settings } = options
  const cancelGraceMs = Duration.toMillis(settings.cancelGrace)

  const countRead = Counters.readsRouted()
  const { outcomeUnknown, readFailure, typedError, writeError, writeFailure } = StatementErrors.make(settings)
  const typed = <A, R>(pool: HostPool, effect: Effect.Effect<A, SqlError, R>) =>
    Effect.mapError(effect, (cause) => typedError(pool, cause, Failure.classify(cause)))

  const pickNow = (exclude: ReadonlyArray<string>): Effect.Effect<Target, SqlError> =>
    Effect.withFiberRuntime((fiber) => {
      const target = options.pick(exclude, fiber.getFiberRef(ReaderRouter.currentMinimumPosition), undefined)
      return target instanceof PostgresError
        ? Effect.fail(StatementErrors.toSqlError(target))
        : Effect.succeed(target)
    })

  /** A connection of the picked host, held for a scope (transactions, `reserve`, streams). */
  const reserve: Effect.Effect<Connection, SqlError, Scope.Scope> = Effect.flatMap(
    pickNow([]),
    (target) =>
      Effect.map(
        typed(target.pool, target.pool.client.reserve),
        (c) => StatementErrors.transactional(target.pool, c, outcomeUnknown)
      )
  )

  /**
   * Runs on the target. A failure is told to the health monitor; a read that
   * failed because its connection or host failed is run once more elsewhere,
   * in a child span naming that host.
   */
  const runOn = (
    target: Target,
    run: Run,
    exclude: ReadonlyArray<string>,
    minimumPosition: bigint | undefined,
    span: Tracer.Span,
    sql: string
  ): Effect.Effect<pg.QueryResult, SqlError> => {
    const read = target.read ?? options.reads
    if (read) countRead(target.pool, target.route, target.reason)
    annotate(span, target)
    // Only writes have work after success (pg.auto notes them for read-your-writes).
    const ran = options.succeeded === undefined || read ? run(target.pool) : Effect.tap(run(target.pool), () => {
      const after = options.succeeded!(target)
      return after === undefined ? Effect.void : after
    })
    return Effect.catchAll(ran, (cause) => {
      const failure = Failure.classify(cause)
      const error = read ? typedError(target.pool, cause, failure) : writeError(target.pool, cause, failure)
      const report = options.onFailure(target.pool, cause)
      if (!read || exclude.length > 0 || !Failure.isHostEvidence(failure.kind)) {
        return Effect.zipRight(report, Effect.fail(error))
      }
      const second = options.pick([target.pool.host], minimumPosition, sql)
      if (second instanceof PostgresError) {
        return Effect.zipRight(report, Effect.fail(StatementErrors.toSqlError(second)))
      }
      span.attribute("pgfleet.retried_on", second.pool.host)
      return report.pipe(
        Effect.zipRight(
          Effect.logDebug(`pgfleet: read failed on ${target.pool.host}, retrying on ${second.pool.host}`)
        ),
        Effect.annotateLogs({ error: error.message }),
        Effect.zipRight(Metric.increment(Metric.tagged(PostgresMetrics.readRetries, "host", target.pool.host))),
        Effect.zipRight(
          Effect.useSpan(
            "pgfleet.read.retry",
            {
              kind: "client",
              parent: span,
              captureStackTrace: false,
              attributes: { "pgfleet.failed_host": target.pool.host }
            },
            (retrySpan) =>
              runOn({ ...second, route: "retry" }, run, [target.pool.host], minimumPosition, retrySpan, sql)
          )
        )
      )
    })
  }

  const noExclusions: ReadonlyArray<string> = []
  const namespace = settings.database
  /**
   * One statement in one `sql.execute` span. The span's exit handler also
   * runs the statement's interrupt handler, so the statement path has one
   * exit hook in all.
   */
  const routed = (
    fiber: Fiber.RuntimeFiber<unknown, unknown>,
    operation: Operation,
    sql: string,
    run: Run,
    span: Tracer.Span
  ): Effect.Effect<pg.QueryResult, SqlError> => {
    span.attribute("db.system.name", "postgresql")
    span.attribute("db.namespace", namespace)
    span.attribute("db.operation.name", operation)
    span.attribute("db.query.text", sql)
    span.attribute("pgfleet.client", options.name)
    span.attribute("pgfleet.fleet", options.settings.fleetName)
    const minimumPosition = fiber.getFiberRef(ReaderRouter.currentMinimumPosition)
    const target = options.pick(noExclusions, minimumPosition, sql)
    return target instanceof PostgresError
      ? Effect.fail(StatementErrors.toSqlError(target))
      : runOn(target, run, noExclusions, minimumPosition, span, sql)
  }
  const spanOptions: Tracer.SpanOptions = { kind: "client", captureStackTrace: false }
  const traced = (
    fiber: Fiber.RuntimeFiber<unknown, unknown>,
    operation: Operation,
    sql: string,
    makeRun: (onInterrupt: pgQuery.OnInterrupt) => Run
  ): Effect.Effect<pg.QueryResult, SqlError> => {
    const onInterrupt: pgQuery.OnInterrupt = { run: undefined }
    const clock = Context.get(fiber.currentDefaultServices, Clock.Clock)
    const timing = fiber.getFiberRef(FiberRef.currentTracerTimingEnabled)
    const run = makeRun(onInterrupt)
    const statement = Effect.flatMap(
      Effect.makeSpan("sql.execute", spanOptions),
      (span) =>
        Effect.onExit(routed(fiber, operation, sql, run, span), (exit) =>
          Effect.sync(() => {
            if (Exit.isInterrupted(exit)) onInterrupt.run?.()
            span.end(timing ? clock.unsafeCurrentTimeNanos() : 0n, exit)
          }))
    )
    const before = options.prepare?.(sql, fiber)
    return before === undefined ? statement : Effect.zipRight(before, statement)
  }

  const runner = runnerOf(traced, reserve, cancelGraceMs)
  const retries = new Map<string, Metric.Metric.Counter<number>>()
  const direct: Direct = {
    pick: (exclude, sql) => options.pick(exclude, undefined, sql),
    reads: options.reads,
    countRead: (target) => countRead(target.pool, target.route, target.reason),
    countRetry: (failed) => {
      let counter = retries.get(failed.host)
      if (counter === undefined) {
        retries.set(failed.host, counter = Metric.tagged(PostgresMetrics.readRetries, "host", failed.host))
      }
      counter.unsafeUpdate(1, [])
    },
    report: (pool, cause) => Runtime.runFork(runtime)(options.onFailure(pool, cause)),
    error: (target, read, cause, failure, sent) =>
      (read ? readFailure(target.pool, cause, failure) : writeFailure(target.pool, cause, failure, sent)) ?? cause
  }
  return { reserve, runner, direct }
}

/**
 * A complete `PgClient` whose every statement outside a transaction asks
 * `pick` for a host and runs on a connection checked out for that statement
 * alone, in an `sql.execute` span naming the host. A transaction or `reserve`
 * holds one connection of one host, and the statements inside join it.
 */
export const make = (options: Options): Effect.Effect<PgClient.PgClient, never, Reactivity.Reactivity> =>
  Effect.gen(function*() {
    const { settings } = options
    const { direct, reserve, runner } = statementPath(options, yield* Effect.runtime<never>())
    const transforms = transformsOf(settings)
    const transformRows = transforms.result
      ? Statement.defaultTransforms(transforms.result, settings.transformJson).array
      : undefined
    const namespace = settings.database

    const build = (withTransforms: boolean) =>
      Effect.gen(function*() {
        const rows = withTransforms ? transformRows : undefined
        const compiler = PgClient.makeCompiler(withTransforms ? transforms.query : undefined, settings.transformJson)
        const base = yield* SqlClient.make({
          // Only statements inside a transaction reach @effect/sql's own execution, on the held connection.
          acquirer: reserve,
          transactionAcquirer: reserve,
          compiler,
          spanAttributes: [
            ["db.system.name", "postgresql"],
            ["db.namespace", namespace],
            ["pgfleet.client", options.name],
            ["pgfleet.fleet", settings.fleetName]
          ],
          transformRows: rows
        })
        return wrapConstructor(base, runner, rows) as SqlClient.SqlClient
      })

    const client = yield* build(true)
    const plain = transforms.query === undefined && transforms.result === undefined ? client : yield* build(false)
    const clients = client === plain ? [client] : [client, plain]
    for (const c of clients) {
      const withTransaction = c.withTransaction
      Object.assign(c, {
        safe: c,
        withoutTransforms: () => plain,
        // @effect/sql turns a failed COMMIT into a defect; one whose outcome is unknown is the caller's to handle.
        withTransaction: <A, E, R>(effect: Effect.Effect<A, E, R>) =>
          Effect.catchSomeDefect(
            withTransaction(effect),
            (defect) => StatementErrors.isOutcomeUnknown(defect) ? Option.some(Effect.fail(defect)) : Option.none()
          )
      })
    }

    const extras = {
      [PgClient.TypeId]: PgClient.TypeId,
      config: pgClientConfig(settings, options.writer, transforms),
      json: (value: unknown) => PgJson(value, undefined, undefined),
      listen: options.listener.listen,
      // A NOTIFY statement cannot take its payload as a parameter; pg_notify can.
      notify: (channel: string, payload: string) =>
        Effect.asVoid((options.notifyVia ?? client)`SELECT pg_notify(${channel}, ${payload})`)
    }
    for (const c of clients) Object.assign(c, extras)
    directs.set(client, direct)
    return client as PgClient.PgClient
  })
