/**
 * What a failed statement becomes for the caller: a v4 `SqlError` whose
 * `reason` follows the SQLSTATE (as @effect/sql-pg 4's own does; its
 * classifier is internal), with pgfleet's `PostgresError` as the reason's
 * cause when pgfleet decided (a host down, a pool timeout, a write's unknown outcome).
 */
import { Failure } from "@pgfleet/core"
import * as Duration from "effect/Duration"
import * as SqlError from "effect/sql/SqlError"
import type { HostPool } from "../../HostPool.js"
import type { PostgresSettings } from "../../PostgresConfig.js"
import { PostgresError } from "../../PostgresError.js"

/** Where a statement failed: before it was sent (no connection could be had), on its connection, or in itself. */
export type Stage = "acquire" | "connection" | "statement"

const MESSAGES: Record<Stage, string> = {
  acquire: "Failed to acquire connection",
  connection: "Connection error",
  statement: "Failed to execute statement"
}

/** A SQLSTATE's reason, as @effect/sql-pg 4 classifies it; host evidence without one is a `ConnectionError`. */
const reasonOf = (cause: unknown, message: string, operation: string): SqlError.SqlErrorReason => {
  const props = { cause, message, operation }
  const code = (cause as { code?: unknown } | null)?.code
  if (typeof code === "string" && code.length === 5) {
    if (code.startsWith("08") || code.startsWith("57P")) return new SqlError.ConnectionError(props)
    if (code.startsWith("28")) return new SqlError.AuthenticationError(props)
    if (code === "42501") return new SqlError.AuthorizationError(props)
    if (code.startsWith("42")) return new SqlError.SqlSyntaxError(props)
    if (code === "23505") {
      const constraint = (cause as { constraint?: unknown }).constraint
      return new SqlError.UniqueViolation({
        ...props,
        constraint: typeof constraint === "string" ? constraint : "unknown"
      })
    }
    if (code.startsWith("23")) return new SqlError.ConstraintError(props)
    if (code === "40P01") return new SqlError.DeadlockError(props)
    if (code === "40001") return new SqlError.SerializationError(props)
    if (code === "55P03") return new SqlError.LockTimeoutError(props)
    if (code === "57014") return new SqlError.StatementTimeoutError(props)
  }
  const kind = Failure.classify(cause).kind
  return Failure.isHostEvidence(kind) || kind === "overload"
    ? new SqlError.ConnectionError(props)
    : new SqlError.UnknownError(props)
}

/** A node-postgres failure at `stage` as a `SqlError`; the stage is its reason's `operation`. */
export const fromPg = (cause: unknown, stage: Stage): SqlError.SqlError =>
  new SqlError.SqlError({ reason: reasonOf(cause, MESSAGES[stage], stage) })

/** Was the statement never sent (no connection could be had)? */
export const notSent = (error: SqlError.SqlError): boolean => error.reason.operation === "acquire"

/** A `SqlError` that carries a `PostgresError`. */
export const toSqlError = (error: PostgresError): SqlError.SqlError => {
  const props = { cause: error, message: error.message, operation: error.reason }
  switch (error.reason) {
    case "Misconfigured":
    case "WrongRole":
    case "SplitBrain":
      return new SqlError.SqlError({ reason: new SqlError.UnknownError(props) })
    default:
      return new SqlError.SqlError({ reason: new SqlError.ConnectionError(props) })
  }
}

/** The `PostgresError` a `SqlError` carries, if pgfleet decided it. */
export const postgresErrorOf = (error: unknown): PostgresError | undefined => {
  const cause = (error as { reason?: { cause?: unknown } } | null)?.reason?.cause
  return cause instanceof PostgresError ? cause : undefined
}

/** The error mappers of one client. */
export const make = (settings: PostgresSettings, countAcquireTimeout: (pool: HostPool) => void) => {
  /** Overload and misconfiguration as `PostgresError`s naming the host and what to tune or fix; `undefined` for others. */
  const readFailure = (pool: HostPool, cause: unknown, failure: Failure.Failure): PostgresError | undefined => {
    if (failure.kind === "overload") {
      countAcquireTimeout(pool)
      const { inUse, waiting } = pool.counts()
      const what = failure.code === "53300"
        ? `${pool.host} refused a new connection (too many connections, 53300)`
        : `no connection to ${pool.host} became free within ${Duration.format(settings.poolTimeout)} (DB_POOL_TIMEOUT)`
      return new PostgresError({
        reason: "AcquireTimeout",
        host: pool.host,
        message: `${what}; ${inUse} in use, ${waiting} waiting`,
        cause
      })
    }
    if (failure.kind === "misconfiguration" && failure.misconfigured !== "role") {
      return new PostgresError({
        reason: "Misconfigured",
        host: pool.host,
        message: Failure.misconfigurationMessage(failure.misconfigured, pool.host, settings, cause),
        cause
      })
    }
    return undefined
  }

  const outcomeUnknown = (pool: HostPool, what: string, cause: unknown) =>
    new PostgresError({
      reason: "OutcomeUnknown",
      host: pool.host,
      message: `the connection to ${pool.host} dropped after ${what} was sent; it may or may not have taken effect`,
      cause
    })

  /** A write that failed with its connection or host: `NotSent` (safe to retry) or `OutcomeUnknown`. */
  const writeFailure = (pool: HostPool, cause: SqlError.SqlError, failure: Failure.Failure) => {
    if (!Failure.isHostEvidence(failure.kind)) return readFailure(pool, cause, failure)
    if (!notSent(cause)) return outcomeUnknown(pool, "the statement", cause)
    return new PostgresError({
      reason: "NotSent",
      host: pool.host,
      message: `the statement was never sent: no connection to ${pool.host} could be had; safe to retry`,
      cause
    })
  }

  const orCause = (error: PostgresError | undefined, cause: SqlError.SqlError) =>
    error === undefined ? cause : toSqlError(error)
  return {
    readError: (pool: HostPool, cause: SqlError.SqlError, failure: Failure.Failure): SqlError.SqlError =>
      orCause(readFailure(pool, cause, failure), cause),
    writeError: (pool: HostPool, cause: SqlError.SqlError, failure: Failure.Failure): SqlError.SqlError =>
      orCause(writeFailure(pool, cause, failure), cause),
    outcomeUnknown: (pool: HostPool, what: string, cause: SqlError.SqlError) =>
      toSqlError(outcomeUnknown(pool, what, cause))
  }
}
