/**
 * What a failed statement tells its caller: overload and misconfiguration as
 * typed errors naming the host and what to tune or fix, a write's outcome
 * when its connection failed, and a transaction's on a dropped connection.
 */
import type { Connection } from "@effect/sql/SqlConnection"
import { SqlError } from "@effect/sql/SqlError"
import { Failure } from "@pgfleet/core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type { HostPool } from "../../HostPool.js"
import type { PostgresSettings } from "../../PostgresConfig.js"
import { PostgresError } from "../../PostgresError.js"

/** The message of a failure before the statement was sent: no connection could be had. */
export const ACQUIRE_FAILED = "Failed to acquire connection"

/** A `SqlError` that carries a `PostgresError`, for the statement error channel. */
export const toSqlError = (error: PostgresError): SqlError => new SqlError({ message: error.message, cause: error })

/** A `COMMIT` or write whose outcome is unknown: kept as a failure when @effect/sql would make it a defect. */
export const isOutcomeUnknown = (u: unknown): u is SqlError =>
  u instanceof SqlError && u.cause instanceof PostgresError && u.cause.reason === "OutcomeUnknown"

const isHostEvidence = (cause: unknown) => Failure.isHostEvidence(Failure.classify(cause).kind)

/** The error mappers of one client; `countAcquireTimeout` counts each `AcquireTimeout`. */
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

  /**
   * A write that failed because its connection or host failed says whether it
   * could have run: `NotSent` when no connection was had (safe to retry),
   * `OutcomeUnknown` when the connection dropped after it was sent.
   */
  const outcomeUnknownError = (pool: HostPool, what: string, cause: unknown) =>
    new PostgresError({
      reason: "OutcomeUnknown",
      host: pool.host,
      message: `the connection to ${pool.host} dropped after ${what} was sent; it may or may not have taken effect`,
      cause
    })

  const writeFailure = (
    pool: HostPool,
    cause: unknown,
    failure: Failure.Failure,
    sent: boolean
  ): PostgresError | undefined => {
    if (!Failure.isHostEvidence(failure.kind)) return readFailure(pool, cause, failure)
    if (sent) return outcomeUnknownError(pool, "the statement", cause)
    return new PostgresError({
      reason: "NotSent",
      host: pool.host,
      message: `the statement was never sent: no connection to ${pool.host} could be had; safe to retry`,
      cause
    })
  }

  const orCause = (error: PostgresError | undefined, cause: SqlError) => error === undefined ? cause : toSqlError(error)
  return {
    readFailure,
    writeFailure,
    typedError: (pool: HostPool, cause: SqlError, failure: Failure.Failure): SqlError =>
      orCause(readFailure(pool, cause, failure), cause),
    writeError: (pool: HostPool, cause: SqlError, failure: Failure.Failure): SqlError =>
      orCause(writeFailure(pool, cause, failure, cause.message !== ACQUIRE_FAILED), cause),
    outcomeUnknown: (pool: HostPool, what: string, cause: SqlError) =>
      toSqlError(outcomeUnknownError(pool, what, cause))
  }
}

/** A statement on a held connection that dropped: a transaction open on it was rolled back by the server. */
const rolledBack = (pool: HostPool) => (cause: SqlError) =>
  isHostEvidence(cause)
    ? new SqlError({
      message: `the connection to ${pool.host} dropped; a transaction open on it was rolled back, nothing committed`,
      cause
    })
    : cause

/**
 * A held connection (transactions, `reserve`). In a transaction, a `COMMIT`
 * whose connection drops has an unknown outcome (SQLSTATE 08007). A
 * `ROLLBACK` on a dropped connection has nothing left to do, so it succeeds:
 * the caller sees the statement's own failure, not @effect/sql's defect for a
 * failed rollback.
 */
export const transactional = (
  pool: HostPool,
  connection: Connection,
  outcomeUnknown: ReturnType<typeof make>["outcomeUnknown"]
): Connection => {
  const dropped = rolledBack(pool)
  return {
    execute: (sql, params, rows) => Effect.mapError(connection.execute(sql, params, rows), dropped),
    executeRaw: (sql, params) => Effect.mapError(connection.executeRaw(sql, params), dropped),
    executeStream: (sql, params, rows) => connection.executeStream(sql, params, rows),
    executeValues: (sql, params) => Effect.mapError(connection.executeValues(sql, params), dropped),
    executeUnprepared: (sql, params, rows) => {
      const run = connection.executeUnprepared(sql, params, rows)
      if (sql === "COMMIT") {
        return Effect.mapError(run, (cause) => isHostEvidence(cause) ? outcomeUnknown(pool, "COMMIT", cause) : cause)
      }
      if (sql.startsWith("ROLLBACK")) return Effect.catchIf(run, isHostEvidence, () => Effect.succeed([]))
      return Effect.mapError(run, dropped)
    }
  }
}
