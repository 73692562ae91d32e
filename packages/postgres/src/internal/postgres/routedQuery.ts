/**
 * One statement through a route, in plain callbacks: the host picked
 * synchronously, the statement run on a connection of its `pg.Pool`, its
 * span and metrics recorded, a failure told to the health monitor without
 * waiting, and a read that failed with its host tried once more elsewhere.
 * The Effect clients and the `pg.Pool` adapters both run statements here, so
 * a statement costs little more than node-postgres's own query.
 */
import { Failure, PooledQuery } from "@pgfleet/core"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import type * as Tracer from "effect/Tracer"
import type pg from "pg"
import type { HostPool } from "../../HostPool.js"
import { PostgresError } from "../../PostgresError.js"
import * as StatementSpan from "./statementSpan.js"

/** Where one statement should run, and why (span attributes and the reads-routed counter). */
export interface Target {
  readonly pool: HostPool
  readonly route: string
  readonly strategy?: string | undefined
  readonly skipped?: ReadonlyArray<{ readonly host: string; readonly reason: string }> | undefined
  /** A read: counted, and retried elsewhere after a connection failure. Defaults to the route's `reads`. */
  readonly read?: boolean | undefined
  /** `pg.auto`: why the statement went where it did (`parsed-read`, `lock-clause`, ...). */
  readonly reason?: string | undefined
  /** `pg.auto`: the statement is DDL. */
  readonly ddl?: boolean | undefined
}

/** What one client records of its statements. Durations are in milliseconds, recorded in seconds. */
export interface Recorders {
  /** A read, in `pgfleet_reads_routed_total`, by host, route and `pg.auto` reason. */
  readonly read: (target: Target) => void
  /** A read tried again elsewhere after `failed` failed it, in `pgfleet_read_retries_total`. */
  readonly retry: (failed: HostPool) => void
  /**
   * A statement that succeeded: its wait for its connection and its use of
   * it, and their sum in `db.client.operation.duration`. One call, so the
   * target's metrics are looked up once.
   */
  readonly operation: (target: Target, operation: string, waitMs: number, useMs: number) => void
  /** A statement that failed, in `db.client.operation.duration` with its `error.type`. */
  readonly failed: (target: Target, operation: string, ms: number, errorType: string) => void
  /** A failed statement's wait for its connection and its use of it. */
  readonly connection: (pool: HostPool, waitMs: number, useMs: number) => void
  /** A statement that found no free connection in time, in `db.client.connection.timeouts`. */
  readonly timeout: (pool: HostPool) => void
}

/** A client's statement path: its picks, counters, health reports and errors. */
export interface Path {
  /** The host for one statement, passing over hosts that already failed it. Synchronous: it runs on every statement. */
  readonly pick: (
    exclude: ReadonlyArray<string>,
    minimumPosition: bigint | undefined,
    sql: string | undefined
  ) => Target | PostgresError
  /** Reads: counted, and retried once elsewhere after a connection-class failure. */
  readonly reads: boolean
  readonly record: Recorders
  /** Tells the health monitor of a failure, without waiting. */
  readonly report: (pool: HostPool, cause: unknown) => void
  /** What a failure becomes for the caller: a `PostgresError`, or `undefined` for the cause itself. */
  readonly error: (
    target: Target,
    read: boolean,
    cause: unknown,
    failure: Failure.Failure,
    sent: boolean
  ) => PostgresError | undefined
}

/** A statement's tracing: its span, and the fiber's tracer for a retry's child span. */
export interface Traced {
  readonly fiber: Fiber.RuntimeFiber<unknown, unknown>
  readonly trace: StatementSpan.Trace
  readonly span: Tracer.Span
  /** A retry's: the span of the statement that failed, told where the read went next. */
  readonly retryOf?: Tracer.Span | undefined
}

/**
 * What a driver error becomes before pgfleet maps it (the Effect clients: a
 * `SqlError`), at the stage it failed at; a `PostgresError` keeps it as its cause.
 */
export type Wrap = (cause: Error, stage: PooledQuery.Stage) => Error

/** How a statement ended: `error` is what the caller sees (pgfleet's, or the wrapped driver error). */
export type Done = (
  error: Error | undefined,
  result: pg.QueryResult | undefined,
  target: Target | undefined,
  stage: PooledQuery.Stage
) => void

/** A statement under way. */
export interface Call {
  /** Gives up on the statement: cancels it on the server (see `PooledQuery.runPooled`). */
  readonly interrupt: (cancelGraceMs: number) => void
}

const noExclusions: ReadonlyArray<string> = []

/** The span attributes of where a statement ran, and why (also a transaction's, of where it holds its connection). */
export const annotate = (span: Tracer.Span, target: Target) => {
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

/** `error.type`: pgfleet's reason, the SQLSTATE, or the failure's kind. */
const errorType = (error: PostgresError | undefined, failure: Failure.Failure): string =>
  error !== undefined ? error.reason : failure.code ?? failure.kind

class Running implements Call {
  current: PooledQuery.Running | undefined = undefined
  interrupt(cancelGraceMs: number) {
    this.current?.interrupt(cancelGraceMs)
  }
}

/**
 * Runs one statement: `submit` sends it on the connection of the host
 * `path.pick` chose. With `traced`, the statement's span is annotated with
 * where it ran, and a retry gets a child span naming the host that failed.
 */
export const run = (
  path: Path,
  operation: string,
  text: string,
  submit: PooledQuery.Submit,
  minimumPosition: bigint | undefined,
  traced: Traced | undefined,
  wrap: Wrap,
  done: Done
): Call => {
  const call = new Running()
  attempt(path, operation, text, submit, minimumPosition, traced, wrap, noExclusions, call, done)
  return call
}

const attempt = (
  path: Path,
  operation: string,
  text: string,
  submit: PooledQuery.Submit,
  minimumPosition: bigint | undefined,
  traced: Traced | undefined,
  wrap: Wrap,
  exclude: ReadonlyArray<string>,
  call: Running,
  done: Done
): void => {
  const target = path.pick(exclude, minimumPosition, text)
  if (target instanceof PostgresError) return done(target, undefined, undefined, "acquire")
  const read = target.read ?? path.reads
  // A second try is counted under the route "retry".
  const counted = exclude.length === 0 ? target : { ...target, route: "retry" }
  if (read) path.record.read(counted)
  if (traced !== undefined) {
    annotate(traced.span, counted)
    traced.retryOf?.attribute("pgfleet.retried_on", target.pool.host)
  }
  const started = performance.now()
  call.current = PooledQuery.runPooled(target.pool.pgPool, submit, (cause, result, stage, checkedOutAt) => {
    const ended = performance.now()
    if (cause === undefined) {
      path.record.operation(counted, operation, checkedOutAt! - started, ended - checkedOutAt!)
      return done(undefined, result, counted, stage)
    }
    if (checkedOutAt !== undefined) path.record.connection(target.pool, checkedOutAt - started, ended - checkedOutAt)
    const failure = Failure.classify(cause)
    const evidence = Failure.isHostEvidence(failure.kind)
    // The monitor acts on host evidence, and on a write refused as read-only (25006).
    if (evidence || failure.code === "25006") path.report(target.pool, cause)
    const wrapped = wrap(cause, stage)
    const pgfleet = path.error(target, read, wrapped, failure, stage !== "acquire")
    path.record.failed(counted, operation, ended - started, errorType(pgfleet, failure))
    if (read && evidence && exclude.length === 0) {
      path.record.retry(target.pool)
      const failed = [target.pool.host]
      if (traced === undefined) {
        return attempt(path, operation, text, submit, minimumPosition, traced, wrap, failed, call, done)
      }
      const next = retrySpan(traced, target.pool.host)
      return attempt(path, operation, text, submit, minimumPosition, next, wrap, failed, call, (e, r, t, s) => {
        StatementSpan.end(next.trace, next.span, e === undefined ? Exit.void : Exit.fail(e))
        done(e, r, t, s)
      })
    }
    done(pgfleet ?? wrapped, undefined, counted, stage)
  })
}

/** The child span of a read tried again elsewhere. */
const retrySpan = (traced: Traced, failedHost: string): Traced => {
  const span = StatementSpan.start(traced.fiber, traced.trace, "pgfleet.read.retry", Option.some(traced.span))
  span.attribute("pgfleet.failed_host", failedHost)
  return { fiber: traced.fiber, trace: traced.trace, span, retryOf: traced.span }
}
