/**
 * The routed `PgClient`s behind `pg.writer`, `pg.reader` and `pg.auto`: each statement picks its host,
 * runs on a connection of its own, reports failures to health and is retried elsewhere when it reads.
 */
import type * as Reactivity from "@effect/experimental/Reactivity"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import type { Connection } from "@effect/sql/SqlConnection"
import { SqlError } from "@effect/sql/SqlError"
import * as Statement from "@effect/sql/Statement"
import type { PooledQuery } from "@pgfleet/core"
import { Failure, StatementText } from "@pgfleet/core"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Runtime from "effect/Runtime"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as String from "effect/String"
import * as Tracer from "effect/Tracer"
import type pg from "pg"
import type { HostPool } from "../../HostPool.js"
import type { PostgresSettings } from "../../PostgresConfig.js"
import { PostgresError } from "../../PostgresError.js"
import * as ReaderRouter from "../../ReaderRouter.js"
import { connectionUrl } from "../postgresConfig.js"
import * as Counters from "./counters.js"
import * as FiberStatement from "./fiberStatement.js"
import type { Operation, Runner, TransformRows } from "./fleetStatement.js"
import * as FleetStatement from "./fleetStatement.js"
import type { Listener } from "./listen.js"
import * as RoutedQuery from "./routedQuery.js"
import type { Target } from "./routedQuery.js"
import * as StatementErrors from "./statementErrors.js"
import * as StatementSpan from "./statementSpan.js"

export type { Target } from "./routedQuery.js"

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

const PgJson = Statement.custom<PgClient.PgCustom>("PgJson")

const paths = new WeakMap<object, RoutedQuery.Path>()

/** The statement path of a client made by {@link make}, for pgfleet's `pg.Pool` adapters: the same picks, metrics, health reports and errors. */
export const pathOf = (client: PgClient.PgClient): RoutedQuery.Path => paths.get(client)!

/** The name transforms: the code's functions, else `DB_NAME_TRANSFORM`. */
const transformsOf = (settings: PostgresSettings) => {
  const snakeCamel = settings.nameTransform === "snake-camel"
  return {
    query: settings.transformQueryNames ?? (snakeCamel ? String.camelToSnake : undefined),
    result: settings.transformResultNames ?? (snakeCamel ? String.snakeToCamel : undefined)
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
const inSqlClient = (fiber: Fiber.RuntimeFiber<unknown, unknown>) =>
  fiber.currentContext.unsafeMap.has(SqlClient.TransactionConnection.key) ||
  fiber.getFiberRef(Statement.currentTransformer)._tag === "Some"

/** The connection each transaction or `reserve` holds, and where it was picked. */
const heldOn = new WeakMap<Connection, Target>()

/** Where `context`'s transaction holds its connection, if it is in one of a fleet's. */
const heldIn = (context: Context.Context<never>): Target | undefined => {
  const held = Context.getOption(context, SqlClient.TransactionConnection)
  return held._tag === "Some" ? heldOn.get(held.value[0]) : undefined
}

/** Where the current fiber's transaction holds its connection, if it is in one of a fleet's. */
const transactionTarget = (): Target | undefined => {
  const fiber = Fiber.getCurrentFiber()
  return fiber._tag === "None" ? undefined : heldIn(fiber.value.currentContext)
}

/**
 * Names the server on the `sql.transaction` span: run first inside the
 * transaction, where effect/sql has made that span the parent and the
 * connection is held. The span is made before the connection is had, so its
 * own attributes cannot.
 */
const nameTransactionSpan = Effect.withFiberRuntime<void>((fiber) => {
  const target = heldIn(fiber.currentContext)
  const span = Context.getOption(fiber.currentContext, Tracer.ParentSpan)
  if (target !== undefined && span._tag === "Some" && span.value._tag === "Span") {
    RoutedQuery.annotate(span.value, target)
  }
  return Effect.void
})

/** The span attributes of a held connection: its server, and the route it was picked by. */
const heldAttributes = (target: Target): ReadonlyArray<readonly [string, unknown]> => [
  ["server.address", target.pool.address.host],
  ["server.port", target.pool.address.port],
  ["pgfleet.route", target.route]
]

/**
 * The attributes effect/sql gives the span of each statement it runs itself
 * (inside a transaction). It iterates them as it runs the statement, in the
 * statement's fiber, so the held connection's host and route are added then:
 * effect/sql 0.x gives a connection no other way to reach that span.
 */
const spanAttributesWithHost = (
  fixed: ReadonlyArray<readonly [string, unknown]>
): ReadonlyArray<readonly [string, unknown]> => {
  const attributes = [...fixed]
  Object.defineProperty(attributes, Symbol.iterator, {
    value: function*() {
      yield* fixed
      const target = transactionTarget()
      if (target !== undefined) yield* heldAttributes(target)
    }
  })
  return attributes
}

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

/** What a statement's result becomes, by @effect/sql operation. */
const shaped = (operation: Operation, rows: TransformRows, result: pg.QueryResult): any => {
  switch (operation) {
    case "executeRaw":
      return result
    case "executeValues":
      return result.rows
    default:
      return rows ? rows(rowsOf(result)) : rowsOf(result)
  }
}

/** A statement its fiber waits on: abandoned by an interrupt, it is cancelled and its span ends. */
class Waiting implements FiberStatement.Abandoned {
  call: RoutedQuery.Call | undefined = undefined
  abandoned = false
  constructor(
    readonly fiber: Fiber.RuntimeFiber<unknown, unknown>,
    readonly traced: RoutedQuery.Traced | undefined,
    readonly cancelGraceMs: number
  ) {}
  abandon() {
    this.abandoned = true
    this.call?.interrupt(this.cancelGraceMs)
    if (this.traced !== undefined) {
      StatementSpan.end(this.traced.trace, this.traced.span, Exit.interrupt(this.fiber.id()))
    }
  }
}

const MESSAGES: Record<PooledQuery.Stage, string> = {
  acquire: StatementErrors.ACQUIRE_FAILED,
  connection: "Connection error",
  statement: "Failed to execute statement"
}

/** A driver error as @effect/sql's clients give it: a `SqlError` saying where it failed. */
const toSqlError: RoutedQuery.Wrap = (cause, stage) => new SqlError({ cause, message: MESSAGES[stage] })

/**
 * The statement path of one client: each statement outside a transaction
 * picks its host, runs in an `sql.execute` span on a connection of its own,
 * reports failures and, when it reads, is retried once elsewhere. One
 * `Effect.async` per statement; the rest runs in plain callbacks
 * (`RoutedQuery.run`), so it costs about what node-postgres's query does.
 */
const statementPath = (options: Options, runtime: Runtime.Runtime<never>) => {
  const { settings } = options
  const cancelGraceMs = Duration.toMillis(settings.cancelGrace)
  const namespace = settings.database
  const record = Counters.make(settings.fleetName, namespace)
  const errors = StatementErrors.make(settings, record.timeout)
  const fork = Runtime.runFork(runtime)
  const path: RoutedQuery.Path = {
    pick: options.pick,
    reads: options.reads,
    record,
    report: (pool, cause) => void fork(options.onFailure(pool, cause)),
    error: (target, read, cause, failure, sent) =>
      read ? errors.readFailure(target.pool, cause, failure) : errors.writeFailure(target.pool, cause, failure, sent)
  }
  const typed = <A, R>(pool: HostPool, effect: Effect.Effect<A, SqlError, R>) =>
    Effect.mapError(effect, (cause) => errors.typedError(pool, cause, Failure.classify(cause)))

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
        (c) => {
          const held = StatementErrors.transactional(target.pool, c, errors.outcomeUnknown)
          heldOn.set(held, target)
          return held
        }
      )
  )

  /**
   * One statement, in its `sql.execute` span. An interrupt cancels it on the
   * server once its fiber ends (see `FiberStatement`), so `Effect.async`
   * needs no canceller.
   */
  const execute = (
    fiber: Fiber.RuntimeFiber<unknown, unknown>,
    operation: Operation,
    sql: string,
    submit: PooledQuery.Submit,
    rows: TransformRows
  ) =>
    Effect.async<any, SqlError>((resume) => {
      const trace = StatementSpan.traceOf(fiber)
      let traced: RoutedQuery.Traced | undefined
      if (trace !== undefined) {
        const span = StatementSpan.start(fiber, trace, "sql.execute", StatementSpan.parentOf(fiber))
        span.attribute("db.system.name", "postgresql")
        span.attribute("db.namespace", namespace)
        span.attribute("db.operation.name", operation)
        span.attribute("db.query.text", sql)
        span.attribute("pgfleet.client", options.name)
        span.attribute("pgfleet.fleet", options.settings.fleetName)
        traced = { fiber, trace, span }
      }
      const waiting = new Waiting(fiber, traced, cancelGraceMs)
      const slot = FiberStatement.start(fiber, waiting)
      waiting.call = RoutedQuery.run(
        path,
        operation,
        sql,
        submit,
        fiber.getFiberRef(ReaderRouter.currentMinimumPosition),
        traced,
        toSqlError,
        (error, result, target) => {
          FiberStatement.end(slot, waiting)
          // Its fiber has gone: nobody reads the answer, and its span has ended.
          if (waiting.abandoned) return
          if (error === undefined) {
            if (traced !== undefined) StatementSpan.end(traced.trace, traced.span, Exit.void)
            const value = shaped(operation, rows, result!)
            // Only writes have work after success (pg.auto notes them for read-your-writes).
            const after = options.succeeded !== undefined && !(target!.read ?? options.reads)
              ? options.succeeded(target!)
              : undefined
            return resume(after === undefined ? Exit.succeed(value) : Effect.as(after, value))
          }
          const failed = error instanceof PostgresError ? StatementErrors.toSqlError(error) : error as SqlError
          if (traced !== undefined) StatementSpan.end(traced.trace, traced.span, Exit.fail(failed))
          resume(Exit.fail(failed))
        }
      )
    })

  /**
   * One statement in `fiber`: outside a transaction, the statement path;
   * inside one, or with a statement transformer installed, @effect/sql's own
   * execution on the held connection.
   */
  const runIn = (
    fiber: Fiber.RuntimeFiber<unknown, unknown>,
    operation: Operation,
    statement: FleetStatement.FleetStatement<unknown>,
    withoutTransform: boolean,
    rows: TransformRows
  ) => {
    if (inSqlClient(fiber)) return FleetStatement.bySqlClient(operation, statement)
    const [sql, params] = statement.compile(withoutTransform)
    const submit: PooledQuery.Submit = operation === "executeValues"
      ? (client, callback) => client.query({ text: sql, values: params as Array<unknown>, rowMode: "array" }, callback)
      // A config object costs pg a clone on every call; text and values do not.
      : (client, callback) => client.query(sql, params as Array<unknown>, callback)
    const statementRun = execute(fiber, operation, sql, submit, rows)
    const before = options.prepare?.(sql, fiber)
    return before === undefined ? statementRun : Effect.zipRight(before, statementRun)
  }

  /** What pgfleet's statements run through. */
  const runner: Runner = {
    run: (operation, statement, withoutTransform, rows) => {
      // A statement is committed by the fiber that runs it: no effect is needed to find that fiber.
      const current = Fiber.getCurrentFiber()
      return current._tag === "Some"
        ? runIn(current.value, operation, statement, withoutTransform, rows)
        : Effect.withFiberRuntime((fiber) => runIn(fiber, operation, statement, withoutTransform, rows))
    },
    // A stream holds its connection while it is read, so it is not retried.
    stream: (statement, rows, viaSqlClient) =>
      Stream.unwrapScoped(Effect.withFiberRuntime((fiber) => {
        if (inSqlClient(fiber)) return Effect.succeed(viaSqlClient())
        const [sql, params] = statement.compile()
        return Effect.map(reserve, (c) => c.executeStream(sql, params, rows) as Stream.Stream<any, SqlError>)
      }))
  }
  return { reserve, runner, path }
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
    const { path, reserve, runner } = statementPath(options, yield* Effect.runtime<never>())
    const transforms = transformsOf(settings)
    const transformRows = transforms.result
      ? Statement.defaultTransforms(transforms.result, settings.transformJson).array
      : undefined
    const namespace = settings.database

    const build = (withTransforms: boolean) =>
      Effect.gen(function*() {
        const rows = withTransforms ? transformRows : undefined
        const compiler = StatementText.keeping(
          PgClient.makeCompiler(withTransforms ? transforms.query : undefined, settings.transformJson)
        )
        const base = yield* SqlClient.make({
          // Only statements inside a transaction reach @effect/sql's own execution, on the held connection.
          acquirer: reserve,
          transactionAcquirer: reserve,
          compiler,
          spanAttributes: spanAttributesWithHost([
            ["db.system.name", "postgresql"],
            ["db.namespace", namespace],
            ["pgfleet.client", options.name],
            ["pgfleet.fleet", settings.fleetName]
          ]),
          transformRows: rows
        })
        return FleetStatement.wrapConstructor(base, runner, rows) as SqlClient.SqlClient
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
            withTransaction(Effect.zipRight(nameTransactionSpan, effect)),
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
    paths.set(client, path)
    return client as PgClient.PgClient
  })
