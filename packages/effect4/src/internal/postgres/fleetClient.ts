/**
 * The routed `PgClient`s behind `pg.writer`, `pg.reader` and `pg.auto`, made
 * with effect/sql's public `SqlClient.make` and @effect/sql-pg 4's compiler.
 * Outside a transaction, a statement runs on a routed connection: it picks
 * its host, runs on a pooled node-postgres connection of its own, reports
 * failures to health and, when it reads, is retried once elsewhere. A
 * transaction or `reserve` holds one connection of one host.
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import * as PgTypes from "@effect/sql-pg/PgTypes"
import { Connection as PgConnection, Failure, PooledQuery, StatementText } from "@pgfleet/core"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as References from "effect/References"
import type * as Scope from "effect/Scope"
import * as SqlClient from "effect/sql/SqlClient"
import type { Connection } from "effect/sql/SqlConnection"
import type { SqlError } from "effect/sql/SqlError"
import * as Statement from "effect/sql/Statement"
import * as Stream from "effect/Stream"
import * as String from "effect/String"
import * as Tracer from "effect/Tracer"
import type pg from "pg"
import Cursor from "pg-cursor"
import type { HostPool } from "../../HostPool.js"
import type { PostgresSettings } from "../../PostgresConfig.js"
import { PostgresError } from "../../PostgresError.js"
import * as ReaderRouter from "../../ReaderRouter.js"
import { connectionUrl } from "../postgresConfig.js"
import * as Counters from "./counters.js"
import * as FleetStatement from "./fleetStatement.js"
import type { Listener } from "./listen.js"

import type { PgConnection as SqlPgConnectionOf } from "@effect/sql-pg/PgConnection"
import type * as SqlPgAdmission from "../sqlPgAdmission.js"
import * as SqlPgConnection from "./sqlPgConnection.js"
import type { Shape, TransformRows } from "./sqlPgConnection.js"
import * as StatementErrors from "./statementErrors.js"

/** Where one statement should run, and why (span attributes and the reads-routed counter). */
export interface Target {
  readonly pool: HostPool
  readonly route: string
  readonly strategy?: string | undefined
  readonly skipped?: ReadonlyArray<{ readonly host: string; readonly reason: string }> | undefined
  /** A read: counted, and retried elsewhere after a connection failure. Defaults to the client's `reads`. */
  readonly read?: boolean | undefined
  /** `pg.auto`: why the statement went where it did. */
  readonly reason?: string | undefined
  /** `pg.auto`: the statement is DDL. */
  readonly ddl?: boolean | undefined
}

export interface Options {
  /** `writer`, `reader` or `auto`: the span's `pgfleet.client`. */
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
    | ((sql: string, fiber: Fiber.Fiber<unknown, unknown>) => Effect.Effect<void, SqlError> | undefined)
    | undefined
  /** The WAL position the fiber's reads must see, from the one it asked for (`pg.auto`: its own writes'). */
  readonly minimumPosition?:
    | ((fiber: Fiber.Fiber<unknown, unknown>, asked: bigint | undefined) => bigint | undefined)
    | undefined
  /** Work after a write succeeded on `target` (`pg.auto`: note it for read-your-writes). */
  readonly succeeded?:
    | ((target: Target, fiber: Fiber.Fiber<unknown, unknown>) => Effect.Effect<void> | undefined)
    | undefined
  /** Reads: counted in `pgfleet_reads_routed_total`, and tried once more elsewhere after a connection-class failure. */
  readonly reads: boolean
  /** Told of every failure, so the health monitor can probe the host at once. */
  readonly onFailure: (pool: HostPool, cause: unknown) => Effect.Effect<void>
  readonly settings: PostgresSettings
  /** The primary, for `config`. */
  readonly writer: HostPool
  /** The fleet's `LISTEN` connection, to the primary: a standby never delivers notifications. */
  readonly listener: Listener
  /** The writer client, for `notify` on the others; the writer client notifies through itself. */
  readonly notifyVia?: SqlClient.SqlClient | undefined
  /**
   * The fleet's transaction, shared by its clients: a statement through any
   * of them inside a transaction opened on one joins it (a read inside a
   * writer transaction sees its writes).
   */
  readonly transactionService: Context.Service<SqlClient.TransactionConnection, SqlClient.TransactionConnection.Service>
}

type Rows = ReadonlyArray<any>

const PgJson = Statement.custom<PgClient.PgCustom>("PgJson")
const JSON_OIDS = new Set<number>([PgTypes.OID.json, PgTypes.OID.jsonb])

const pgValue = (p: unknown): unknown =>
  PgTypes.isParameter(p)
    ? p.value === null ? null : JSON_OIDS.has(p.oid) ? JSON.stringify(p.value) : p.value
    : typeof p === "bigint"
    ? p.toString()
    : p

const noValues: Array<unknown> = []

/**
 * @effect/sql-pg 4's compiler makes typed parameters for its own protocol;
 * node-postgres takes plain values. Parameters that need no change are
 * passed as they are (node-postgres does not change the array it is given).
 */
const pgValues = (params: ReadonlyArray<unknown>): Array<unknown> => {
  for (let i = 0; i < params.length; i++) {
    const p = params[i]
    if (typeof p === "bigint" || PgTypes.isParameter(p)) return params.map(pgValue)
  }
  return params.length === 0 ? noValues : params as Array<unknown>
}

/** Rows, or one array of rows a statement for multi-statement text. */
const rowsOf = (result: pg.QueryResult): Rows =>
  Array.isArray(result) ? result.map((r: pg.QueryResult) => r.rows ?? []) : result.rows ?? []

/**
 * A statement's result as `shape` asks, as an effect: a row transform runs
 * in the fiber (a throw there is a defect, never a throw in node-postgres's
 * callback).
 */
const shaped = (shape: Shape, rows: TransformRows, result: pg.QueryResult): Effect.Effect<any> =>
  shape === "raw"
    ? Effect.succeed(result)
    : shape === "values"
    ? Effect.succeed(result.rows)
    : rows === undefined
    ? Effect.succeed(rowsOf(result))
    : Effect.sync(() => rows(rowsOf(result)))

/**
 * The fiber's spans can be seen: tracing is on and its tracer is not
 * Effect's built-in one, which exports nothing.
 */
const exportsSpans = (fiber: Fiber.Fiber<unknown, unknown>): boolean => {
  const { tracer, tracerEnabled } = fiber.cache
  return tracerEnabled && tracer !== undefined && tracer !== Tracer.nativeTracer
}

/**
 * effect/sql's statement span, when it can be seen. It reaches the
 * connection only as the parent span, and only with
 * `Statement.SpanPropagationEnabled` on (off by default in effect 4:
 * propagation costs every statement); otherwise the parent span is the
 * caller's own, which is not ours to annotate. Metrics carry the host
 * either way.
 */
const statementSpan = (fiber: Fiber.Fiber<unknown, unknown>): Tracer.Span | undefined => {
  if (!exportsSpans(fiber) || !viewOf(fiber).spans) return undefined
  const span = Context.getOrUndefined(fiber.context, Tracer.ParentSpan)
  return span !== undefined && span._tag === "Span" ? span : undefined
}

/** What a statement reads of its fiber's context besides the span. */
interface ContextView {
  /** The statement's span reaches the connection (see {@link statementSpan}). */
  readonly spans: boolean
  /** `ReaderRouter.currentMinimumPosition`. */
  readonly minimumPosition: bigint | undefined
  /** No `Statement.CurrentTransformer` is set. */
  readonly untransformed: boolean
}

const views = new WeakMap<Context.Context<never>, ContextView>()

/**
 * The fiber's {@link ContextView}, read once per context: a context does not
 * change, and a fiber's statements mostly run in the one its last ran in
 * (each `getRef` walks the context's overlays).
 */
const viewOf = (fiber: Fiber.Fiber<unknown, unknown>): ContextView => {
  const context = fiber.context
  let view = views.get(context)
  if (view === undefined) {
    view = {
      spans: fiber.getRef(References.TracerEnabled) && fiber.getRef(Statement.SpanPropagationEnabled),
      minimumPosition: fiber.getRef(ReaderRouter.currentMinimumPosition),
      untransformed: fiber.getRef(Statement.CurrentTransformer) === undefined
    }
    views.set(context, view)
  }
  return view
}

/** The span attributes of where a statement ran, and why. */
const annotate = (span: Tracer.Span | undefined, target: Target) => {
  if (span === undefined) return
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

/** The target of each connection a transaction or `reserve` holds. */
const heldOn = new WeakMap<Connection, Target>()

/**
 * Names the server on the `sql.transaction` span: run first inside the
 * transaction, where effect/sql has made that span the parent and holds the
 * connection. The span is made before the connection is had, so its own
 * attributes cannot.
 */
const nameTransactionSpan = (
  transactionService: Context.Service<SqlClient.TransactionConnection, SqlClient.TransactionConnection.Service>
) =>
  Effect.withFiber<void>((fiber) => {
    const held = Context.getOrUndefined(fiber.context, transactionService)
    const target = held === undefined ? undefined : heldOn.get(held[0])
    const span = Context.getOrUndefined(fiber.context, Tracer.ParentSpan)
    if (target !== undefined && span !== undefined && span._tag === "Span") annotate(span, target)
    return Effect.void
  })

/** `error.type`: pgfleet's reason, the SQLSTATE, or the failure's kind. */
const errorType = (error: PostgresError | undefined, failure: Failure.Failure): string =>
  error !== undefined ? error.reason : failure.code ?? failure.kind

/** The operations a routed connection runs, as `db.operation.name` says them. */
type Operation = "execute" | "executeRaw" | "executeValues" | "executeUnprepared" | "executeStream"

/** One statement on a held connection; an interrupt sends the cancel request for it. */
const runHeld = (
  client: pg.PoolClient,
  pool: pg.Pool,
  sql: string,
  values: Array<unknown>,
  shape: Shape,
  rows: TransformRows
): Effect.Effect<any, SqlError> =>
  Effect.callback<any, SqlError>((resume) => {
    const done = (cause: Error | null, result: pg.QueryResult) =>
      resume(cause ? Effect.fail(StatementErrors.fromPg(cause, "statement")) : shaped(shape, rows, result))
    if (shape !== "values") client.query(sql, values, done)
    else client.query({ text: sql, values, rowMode: "array" }, done)
    return Effect.sync(() => PgConnection.sendCancel(pool.options, client))
  })

/** Rows a stream reads from its cursor at a time: memory stays bounded however many rows the statement gives. */
const STREAM_BATCH = 128

/**
 * The rows of one statement on `client`, read through a server-side portal
 * (pg-cursor) `STREAM_BATCH` at a time, as the stream is pulled; the cursor
 * is closed when the stream ends or is interrupted. The client must stay
 * held for the stream's life.
 */
const cursorStream = (
  client: pg.PoolClient,
  sql: string,
  values: Array<unknown>,
  rows: TransformRows
): Stream.Stream<any, SqlError> =>
  Stream.unwrap(Effect.map(
    Effect.acquireRelease(
      Effect.sync(() => client.query(new Cursor(sql, values))),
      // A dead connection never answers the close; HostPool answers it for a connection that ended.
      (cursor) => Effect.callback<void>((resume) => void cursor.close(() => resume(Effect.void)))
    ),
    (cursor) =>
      Stream.paginate(undefined, () =>
        Effect.callback<readonly [ReadonlyArray<any>, Option.Option<undefined>], SqlError>((resume) =>
          void cursor.read(STREAM_BATCH, (cause, batch) => {
            if (cause) {
              return resume(Effect.fail(StatementErrors.fromPg(cause, "statement")))
            }
            const out = rows ? rows(batch) : batch
            resume(Effect.succeed([out, batch.length < STREAM_BATCH ? Option.none() : Option.some(undefined)]))
          })
        ))
  ))

/** One statement as effect/sql gave it, and the WAL position its reads must see. */
interface Request {
  readonly sql: string
  /** The parameters as the driver takes them: plain values for node-postgres, sql-pg's own as they are. */
  readonly values: ReadonlyArray<unknown>
  readonly operation: Operation
  readonly shape: Shape
  readonly rows: TransformRows
  readonly minimumPosition: bigint | undefined
  readonly fiber: Fiber.Fiber<unknown, unknown>
}

/** A connection held for a scope: node-postgres's, or (`DB_DRIVER=sql-pg`) sql-pg's. */
type Held =
  | {
    /** Where it was picked: its pool and route. */
    readonly target: Target
    readonly client: pg.PoolClient
    /** It failed with its host: destroy it, do not pool it. */
    readonly broke: () => void
    readonly connection: undefined
  }
  | { readonly target: Target; readonly connection: SqlPgConnectionOf; readonly client: undefined }

/** Runs one statement and gives its result as `shape` asks. */
type Run = (
  sql: string,
  params: ReadonlyArray<unknown>,
  operation: Operation,
  shape: Shape,
  rows: TransformRows
) => Effect.Effect<any, SqlError>

/** A connection effect/sql can use, over a function that runs one statement and one that streams one. */
const connectionOver = (
  run: Run,
  stream: (sql: string, params: ReadonlyArray<unknown>, rows: TransformRows) => Stream.Stream<any, SqlError>
): Connection => ({
  execute: (sql, params, rows) => run(sql, params, "execute", "rows", rows),
  executeUnprepared: (sql, params, rows) => run(sql, params, "executeUnprepared", "rows", rows),
  executeRaw: (sql, params) => run(sql, params, "executeRaw", "raw", undefined),
  executeValues: (sql, params) => run(sql, params, "executeValues", "values", undefined),
  executeValuesUnprepared: (sql, params) => run(sql, params, "executeValues", "values", undefined),
  executeStream: stream
})

const transformsOf = (settings: PostgresSettings) => {
  const snakeCamel = settings.nameTransform === "snake-camel"
  return {
    query: settings.transformQueryNames ?? (snakeCamel ? String.camelToSnake : undefined),
    result: settings.transformResultNames ?? (snakeCamel ? String.snakeToCamel : undefined)
  }
}

/** `PgClient.config`, read when asked: the writer's address changes when writes follow a promotion. */
const configOf = (settings: PostgresSettings, writer: HostPool, transforms: ReturnType<typeof transformsOf>) => ({
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
  connectTimeout: settings.connectTimeout,
  transformQueryNames: transforms.query,
  transformResultNames: transforms.result,
  transformJson: settings.transformJson
})

/** A complete `PgClient` whose statements outside a transaction are routed by `options.pick`. */
export const make = (options: Options) =>
  Effect.gen(function*() {
    const { settings } = options
    const cancelGraceMs = Duration.toMillis(settings.cancelGrace)
    const namespace = settings.database
    const record = Counters.make(settings.fleetName, namespace, yield* Effect.context<never>())
    const errors = StatementErrors.make(settings, record.timeout)
    /** A wait for a free connection that ran out: classified as pg-pool's own, an overload (`AcquireTimeout`). */
    const poolWaitTimedOut = () => StatementErrors.fromPg(new Error(Failure.POOL_WAIT_TIMEOUT), "acquire")

    const noExclusions: ReadonlyArray<string> = []

    /** An attempt at `target` begins: a read is counted (a second try under the route "retry"), the span annotated. */
    const begin = (target: Target, exclude: ReadonlyArray<string>, span: Tracer.Span | undefined): Target => {
      const counted = exclude.length === 0 ? target : { ...target, route: "retry" }
      if (target.read ?? options.reads) record.read(counted)
      annotate(span, counted)
      return counted
    }

    /** A write that succeeded on `target` notes it (`pg.auto`), then gives `value`. */
    const succeeded = (target: Target, request: Request, value: Effect.Effect<any>): Effect.Effect<any> => {
      const after = !(target.read ?? options.reads) && options.succeeded !== undefined
        ? options.succeeded(target, request.fiber)
        : undefined
      return after === undefined ? value : Effect.andThen(after, value)
    }

    /**
     * Starts one statement on a connection of `target`'s pool checked out
     * for it alone, and resumes its fiber once: with the result, timed into
     * the metrics, or with the failure's handling (`failed`). Plain
     * callbacks from the pool to the fiber: the only effect a statement that
     * succeeds adds is the `Effect.callback` it runs in. Gives the canceller.
     */
    const start = (
      target: Target,
      request: Request,
      exclude: ReadonlyArray<string>,
      span: Tracer.Span | undefined,
      resume: (effect: Effect.Effect<any, SqlError>) => void
    ): Effect.Effect<void> => {
      const counted = begin(target, exclude, span)
      const { shape, sql } = request
      const values = request.values as Array<unknown>
      const started = performance.now()
      const running = PooledQuery.runPooled(
        target.pool.pgPool,
        shape !== "values"
          ? (client, callback) => client.query(sql, values, callback)
          : (client, callback) => client.query({ text: sql, values, rowMode: "array" }, callback),
        (cause, result, stage, checkedOutAt) => {
          const ended = performance.now()
          const tookMs = ended - started
          if (checkedOutAt !== undefined) {
            record.connection(target.pool, checkedOutAt - started, ended - checkedOutAt)
          }
          if (cause !== undefined) {
            // Handled in the fiber: an interrupted fiber never resumes, and then nothing is recorded or retried.
            const error = StatementErrors.fromPg(cause, stage)
            return resume(Effect.suspend(() => failed(target, counted, error, tookMs, request, exclude, span)))
          }
          record.operation(counted, request.operation, tookMs)
          resume(succeeded(target, request, shaped(shape, request.rows, result!)))
        }
      )
      // A plain callback inside: an interrupted fiber would never run an effect here.
      return Effect.sync(() => running.interrupt(cancelGraceMs))
    }

    /**
     * `start` on @effect/sql-pg 4's pool (`DB_DRIVER=sql-pg`): the statement
     * runs in the fiber, on a connection `PgPool.use` lends it; sql-pg
     * cancels it on the server if the fiber is interrupted. A result is
     * recorded in an `Effect.map`, which hands it on without an `Exit`.
     * It is counted, and takes its slot, only once it runs inside the frames
     * that let go of both: a fiber interrupted at any point keeps neither.
     */
    const startSqlPg = (
      target: Target,
      request: Request,
      exclude: ReadonlyArray<string>,
      span: Tracer.Span | undefined
    ): Effect.Effect<any, SqlError> => {
      const sqlPg = target.pool.sqlPg!
      const { admission, gauges } = sqlPg
      const { rows, shape } = request
      const prepare = request.operation !== "executeUnprepared"
      const notes = !(target.read ?? options.reads) && options.succeeded !== undefined
      let counted = target
      let started = 0
      // Which gauge the statement is counted in: none yet, waiting, in use, then none again.
      let stage: "made" | "waiting" | "using" | "done" = "made"
      // Checked out, so perhaps sent.
      let sent = false
      // Its slot of the host's (see `SqlPgAdmission`).
      let ticket: SqlPgAdmission.Ticket | undefined
      const letGo = () => {
        if (stage === "waiting") gauges.waiting--
        else if (stage === "using") gauges.inUse--
        stage = "done"
      }
      const recorded = (connection: SqlPgConnectionOf, checkedOutAt: number, result: any) => {
        const ended = performance.now()
        letGo()
        sqlPg.retireIfOld(connection, ended)
        record.connection(target.pool, checkedOutAt - started, ended - checkedOutAt)
        record.operation(counted, request.operation, ended - started)
        return SqlPgConnection.valueOf(shape, rows, result)
      }
      const used = sqlPg.pool.use((connection) => {
        const checkedOutAt = performance.now()
        sent = true
        stage = "using"
        gauges.waiting--
        gauges.inUse++
        const ran = SqlPgConnection.query(connection, request.sql, request.values, shape, prepare)
        return notes
          ? Effect.flatMap(ran, (result) =>
            succeeded(target, request, Effect.succeed(recorded(connection, checkedOutAt, result))))
          : Effect.map(ran, (result) =>
            recorded(connection, checkedOutAt, result))
      })
      const run = Effect.suspend(() => {
        counted = begin(target, exclude, span)
        started = performance.now()
        stage = "waiting"
        gauges.waiting++
        if (admission === undefined) return used
        ticket = admission.tryTake()
        return ticket !== undefined ? used : Effect.flatMap(admission.take(poolWaitTimedOut), (taken) => {
          ticket = taken
          return used
        })
      })
      // One frame lets go of both, whatever ends the statement: the gauges, and the slot once sql-pg
      // has its connection back, so the next in line finds it free.
      const released = Effect.onExit(run, () => {
        letGo()
        if (ticket !== undefined) admission!.give(ticket, request.fiber.currentDispatcher)
        ticket = undefined
        return Effect.void
      })
      // An interrupted fiber skips `catchCause`.
      return Effect.catchCause(released, (cause) => {
        const error = Cause.findErrorOption(cause)
        if (error._tag === "None") return Effect.failCause(cause)
        // Never checked out: never sent, whatever sql-pg called the failure.
        const failure = sent ? error.value : StatementErrors.fromPg(error.value, "acquire")
        return failed(target, counted, failure, performance.now() - started, request, exclude, span)
      })
    }

    /** One attempt at `target`, on whichever driver its pool runs. */
    const attempt = (
      target: Target,
      request: Request,
      exclude: ReadonlyArray<string>,
      span: Tracer.Span | undefined
    ): Effect.Effect<any, SqlError> =>
      target.pool.sqlPg !== undefined
        ? startSqlPg(target, request, exclude, span)
        : Effect.callback<any, SqlError>((resume) => start(target, request, exclude, span, resume))

    /**
     * A failed statement: recorded, reported to health, and mapped; a read
     * that failed with its host is tried once more elsewhere, in a
     * `pgfleet.read.retry` span.
     */
    const failed = (
      target: Target,
      counted: Target,
      cause: SqlError,
      tookMs: number,
      request: Request,
      exclude: ReadonlyArray<string>,
      span: Tracer.Span | undefined
    ): Effect.Effect<any, SqlError> => {
      const read = target.read ?? options.reads
      const failure = Failure.classify(cause)
      const error = read
        ? errors.readError(target.pool, cause, failure)
        : errors.writeError(target.pool, cause, failure)
      record.failed(counted, request.operation, tookMs, errorType(StatementErrors.postgresErrorOf(error), failure))
      const report = options.onFailure(target.pool, cause)
      if (!read || exclude.length > 0 || !Failure.isHostEvidence(failure.kind)) {
        return Effect.andThen(report, Effect.fail(error))
      }
      const second = options.pick([target.pool.host], request.minimumPosition, request.sql)
      if (second instanceof PostgresError) {
        return Effect.andThen(report, Effect.fail(StatementErrors.toSqlError(second)))
      }
      record.retry(target.pool)
      span?.attribute("pgfleet.retried_on", second.pool.host)
      return report.pipe(
        Effect.andThen(
          Effect.logDebug(`pgfleet: read failed on ${target.pool.host}, retrying on ${second.pool.host}`)
        ),
        Effect.andThen(
          Effect.useSpan(
            "pgfleet.read.retry",
            { kind: "client", attributes: { "pgfleet.failed_host": target.pool.host } },
            (retrySpan) => attempt(second, request, [target.pool.host], retrySpan)
          )
        )
      )
    }

    /** The statement's span (see {@link statementSpan}), given the database-client attributes. */
    const spanOf = (fiber: Fiber.Fiber<unknown, unknown>, operation: Operation) => {
      const span = statementSpan(fiber)
      if (span !== undefined) {
        span.attribute("db.system.name", "postgresql")
        span.attribute("db.namespace", namespace)
        span.attribute("db.operation.name", operation)
      }
      return span
    }

    /** The WAL position the fiber's reads must see. */
    const minimumPositionOf = (fiber: Fiber.Fiber<unknown, unknown>) => {
      const asked = viewOf(fiber).minimumPosition
      return options.minimumPosition === undefined ? asked : options.minimumPosition(fiber, asked)
    }

    /**
     * One routed statement on node-postgres, as one `Effect.callback`: the
     * fiber (read with `Fiber.getCurrent`, as the callback runs on it) gives
     * the span and the WAL position its reads must see, `pick` the host,
     * `start` the rest.
     */
    const routedOnPg: Run = (sql, params, operation, shape, rows) =>
      Effect.callback<any, SqlError>((resume) => {
        const fiber = Fiber.getCurrent()!
        const span = spanOf(fiber, operation)
        const minimumPosition = minimumPositionOf(fiber)
        const target = options.pick(noExclusions, minimumPosition, sql)
        if (target instanceof PostgresError) return resume(Effect.fail(StatementErrors.toSqlError(target)))
        const request = { sql, values: pgValues(params), operation, shape, rows, minimumPosition, fiber }
        return start(target, request, noExclusions, span, resume)
      })

    /** One routed statement on sql-pg's pools (`DB_DRIVER=sql-pg`), run in the fiber by {@link startSqlPg}. */
    const routeSqlPg = (
      fiber: Fiber.Fiber<unknown, unknown>,
      sql: string,
      params: ReadonlyArray<unknown>,
      operation: Operation,
      shape: Shape,
      rows: TransformRows
    ): Effect.Effect<any, SqlError> => {
      const span = spanOf(fiber, operation)
      const minimumPosition = minimumPositionOf(fiber)
      const target = options.pick(noExclusions, minimumPosition, sql)
      if (target instanceof PostgresError) return Effect.fail(StatementErrors.toSqlError(target))
      return startSqlPg(
        target,
        { sql, values: params, operation, shape, rows, minimumPosition, fiber },
        noExclusions,
        span
      )
    }
    /**
     * effect/sql makes a statement's effect in the fiber that runs it, just
     * before running it, so the host is picked for the current fiber as the
     * effect is made, with no `Effect.withFiber` per statement (kept for a
     * caller outside any fiber). Work that must come first runs before it is made.
     */
    const routedOnSqlPg: Run = (sql, params, operation, shape, rows) => {
      const fiber = Fiber.getCurrent()
      return fiber === undefined
        ? Effect.withFiber((current) => routeSqlPg(current, sql, params, operation, shape, rows))
        : routeSqlPg(fiber, sql, params, operation, shape, rows)
    }

    const routedStatement = settings.driver === "sql-pg" ? routedOnSqlPg : routedOnPg

    const prepare = options.prepare
    const routed = connectionOver(
      prepare === undefined ? routedStatement : (sql, params, operation, shape, rows) =>
        Effect.withFiber((fiber) => {
          const before = prepare(sql, fiber)
          // Routed after `before`: the statement picks its host when it is made.
          return before === undefined
            ? routedStatement(sql, params, operation, shape, rows)
            : Effect.andThen(before, () => routedStatement(sql, params, operation, shape, rows))
        }), // A stream holds its connection while it is read, so it is not retried.
      (sql, params, rows) =>
        Stream.unwrap(Effect.withFiber((fiber) => {
          const held = Effect.andThen(
            options.prepare?.(sql, fiber) ?? Effect.void,
            Effect.suspend(() => holdPicked(fiber, sql))
          )
          return Effect.map(held, (h) =>
            h.connection !== undefined
              ? SqlPgConnection.stream(h.connection, sql, params, rows)
              : cursorStream(h.client, sql, pgValues(params), rows))
        }))
    )

    /**
     * A connection of the host `pick` chooses (for `sql`, or for a
     * transaction when undefined), held until the scope closes; `broken()`
     * once it failed with its host, so it is destroyed, not pooled.
     */
    function holdPicked(
      fiber: Fiber.Fiber<unknown, unknown>,
      sql: string | undefined
    ): Effect.Effect<Held, SqlError, Scope.Scope> {
      const target = options.pick(noExclusions, minimumPositionOf(fiber), sql)
      if (target instanceof PostgresError) return Effect.fail(StatementErrors.toSqlError(target))
      const held = target.pool.sqlPg !== undefined ? holdSqlPg(target, target.pool.sqlPg) : holdPg(target)
      // Nothing was sent: it fails as a statement that found no connection does (`AcquireTimeout`, `NotSent`).
      return Effect.mapError(held, (cause) => {
        const failure = Failure.classify(cause)
        return (target.read ?? options.reads)
          ? errors.readError(target.pool, cause, failure)
          : errors.writeError(target.pool, cause, failure)
      })
    }

    /** {@link holdPicked} on node-postgres's pool. */
    function holdPg(target: Target): Effect.Effect<Held, SqlError, Scope.Scope> {
      const pool = target.pool
      let broken = false
      const acquire = Effect.callback<pg.PoolClient, SqlError>((resume) => {
        pool.pgPool.connect((error, client, release) => {
          if (error || !client) {
            resume(Effect.fail(StatementErrors.fromPg(error ?? new Error("no connection"), "acquire")))
          } else {
            client.once("error", () => (broken = true))
            resume(Effect.succeed(Object.assign(client, { release })))
          }
        })
      })
      return Effect.map(
        Effect.acquireRelease(
          Effect.tapError(acquire, (cause) => options.onFailure(pool, cause)),
          (client) => Effect.sync(() => client.release(broken))
        ),
        (client) => ({ client, target, broke: () => (broken = true), connection: undefined })
      )
    }

    /** {@link holdPicked} on sql-pg's pool, which retires a connection that failed with its host itself. */
    const holdSqlPg = (
      target: Target,
      sqlPg: NonNullable<HostPool["sqlPg"]>
    ): Effect.Effect<Held, SqlError, Scope.Scope> => {
      const { pool } = target
      const { admission, gauges } = sqlPg
      // Waiting for a slot and until sql-pg lends the connection, in use from then until the scope closes.
      // The slot is released last, after sql-pg has its connection back, so the next in line finds it free.
      const reserved = Effect.suspend(() => {
        let waiting = false
        const stopWaiting = () => {
          if (waiting) gauges.waiting--
          waiting = false
        }
        const slot = admission === undefined ? Effect.void : Effect.acquireRelease(
          Effect.suspend(() => {
            const ticket = admission.tryTake()
            return ticket === undefined ? admission.take(poolWaitTimedOut) : Effect.succeed(ticket)
          }),
          (ticket) =>
            Effect.withFiber((fiber) => {
              admission.give(ticket, fiber.currentDispatcher)
              return Effect.void
            })
        )
        const lent = Effect.acquireRelease(
          Effect.onExit(sqlPg.pool.reserve, (exit) =>
            Effect.sync(() => {
              stopWaiting()
              if (exit._tag === "Success") gauges.inUse++
            })),
          () => Effect.sync(() => gauges.inUse--)
        )
        const start = Effect.sync(() => {
          gauges.waiting++
          waiting = true
        })
        // Counted inside the frame that stops counting it, whatever ends the wait.
        return Effect.onError(Effect.andThen(start, Effect.andThen(slot, lent)), () => Effect.sync(stopWaiting))
      }).pipe(
        Effect.mapError((cause) => StatementErrors.fromPg(cause, "acquire")),
        Effect.tapError((cause) => options.onFailure(pool, cause))
      )
      return Effect.map(reserved, (connection) => ({ connection, target, client: undefined }))
    }

    /**
     * A held connection's statements, their spans annotated as a routed
     * statement's are: the database, the operation, and the server and route
     * of the connection they share.
     */
    const annotated = (target: Target, connection: Connection): Connection => {
      const run = <A>(operation: Operation, statement: () => Effect.Effect<A, SqlError>) =>
        Effect.withFiber((fiber) => {
          annotate(spanOf(fiber, operation), target)
          return statement()
        })
      const held: Connection = {
        execute: (sql, params, rows) => run("execute", () => connection.execute(sql, params, rows)),
        executeUnprepared: (sql, params, rows) =>
          run("executeUnprepared", () => connection.executeUnprepared(sql, params, rows)),
        executeRaw: (sql, params) => run("executeRaw", () => connection.executeRaw(sql, params)),
        executeValues: (sql, params) => run("executeValues", () => connection.executeValues(sql, params)),
        executeValuesUnprepared: (sql, params) =>
          run("executeValues", () => connection.executeValuesUnprepared(sql, params)),
        executeStream: connection.executeStream
      }
      heldOn.set(held, target)
      return held
    }

    /** A connection of the picked host, held for a scope (transactions, `reserve`). */
    const reserve: Effect.Effect<Connection, SqlError, Scope.Scope> = Effect.withFiber((fiber) =>
      Effect.map(holdPicked(fiber, undefined), (held) => {
        if (held.connection !== undefined) {
          const { connection, target } = held
          const { pool } = target
          return annotated(
            target,
            transactional(
              pool,
              SqlPgConnection.held(connection, (cause) => options.onFailure(pool, cause)),
              errors.outcomeUnknown
            )
          )
        }
        const { broke, client, target } = held
        const { pool } = target
        const failed = (cause: SqlError) => {
          if (Failure.isHostEvidence(Failure.classify(cause).kind)) broke()
          return options.onFailure(pool, cause)
        }
        return annotated(
          target,
          transactional(
            pool,
            connectionOver(
              (sql, params, _operation, shape, rows) =>
                Effect.tapError(runHeld(client, pool.pgPool, sql, pgValues(params), shape, rows), failed),
              // The cursor closes with the stream; the connection stays held for its own scope.
              (sql, params, rows) => Stream.tapError(cursorStream(client, sql, pgValues(params), rows), failed)
            ),
            errors.outcomeUnknown
          )
        )
      })
    )

    /** See `FleetStatement.Runner.direct`. */
    const direct = (fiber: Fiber.Fiber<unknown, unknown>): boolean =>
      !exportsSpans(fiber) && Context.getOrUndefined(fiber.context, options.transactionService) === undefined &&
      viewOf(fiber).untransformed

    const transforms = transformsOf(settings)
    const transformRows = transforms.result
      ? Statement.defaultTransforms(transforms.result, settings.transformJson).array
      : undefined
    const client = yield* SqlClient.make({
      acquirer: Effect.succeed(routed),
      // No scope per statement: the routed connection checks out and returns its own.
      borrower: (f) => f(routed),
      transactionAcquirer: reserve,
      compiler: StatementText.keeping(PgClient.makeCompiler(transforms.query, settings.transformJson)),
      driver: "pgfleet",
      transactionService: options.transactionService,
      // No db.namespace or db.system.name here: effect/sql would name the span after them. The statement
      // path adds them, so the span keeps the Effect 3 line's name, `sql.execute`.
      spanAttributes: [["pgfleet.client", options.name], ["pgfleet.fleet", settings.fleetName]],
      transformRows
    })
    const withTransaction = client.withTransaction
    const named = nameTransactionSpan(options.transactionService)
    const sql = FleetStatement.wrapConstructor(client, { routed, transformRows, direct })
    return Object.assign(sql, {
      [PgClient.TypeId]: PgClient.TypeId,
      safe: sql,
      withTransaction: <A, E, R>(effect: Effect.Effect<A, E, R>) => withTransaction(Effect.andThen(named, effect)),
      config: configOf(settings, options.writer, transforms),
      json: (value: unknown) => Statement.fragment([PgJson(value, undefined, undefined)]),
      listen: options.listener.listen,
      // A NOTIFY statement cannot take its payload as a parameter; pg_notify can. Sent on the writer.
      notify: (channel: string, payload: string) =>
        Effect.asVoid((options.notifyVia ?? sql)`SELECT pg_notify(${channel}, ${payload})`)
    }) as unknown as PgClient.PgClient
  })

const isHostEvidence = (cause: unknown) => Failure.isHostEvidence(Failure.classify(cause).kind)

/** A held connection's statements: a dropped `COMMIT` has an unknown outcome; a dropped `ROLLBACK` rolled back. */
const transactional = (
  pool: HostPool,
  connection: Connection,
  outcomeUnknown: (pool: HostPool, what: string, cause: SqlError) => SqlError
): Connection => ({
  ...connection,
  executeUnprepared: (sql, params, rows) => {
    const run = connection.executeUnprepared(sql, params, rows)
    if (sql === "COMMIT") {
      return Effect.mapError(run, (cause) => isHostEvidence(cause) ? outcomeUnknown(pool, "COMMIT", cause) : cause)
    }
    if (sql.startsWith("ROLLBACK")) return Effect.catchIf(run, isHostEvidence, () => Effect.succeed([]))
    return run
  }
})
