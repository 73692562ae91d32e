import { SqlError } from "@effect/sql/SqlError"
import { PostgresError } from "../PostgresError.js"

const CONNECTION_CODES = new Set(["ECONNRESET", "ECONNREFUSED", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH"])
const CONNECTION_MESSAGES = [
  "Connection terminated",
  "timeout exceeded when trying to connect",
  "Client has encountered a connection error",
  "Connection closed",
  // pg.Client's own connect timeout
  "timeout expired"
]

const causes = function*(error: unknown): Generator<unknown> {
  for (let e = error, depth = 0; e !== undefined && e !== null && depth < 8; depth++) {
    yield e
    e = (e as { cause?: unknown }).cause
  }
}

/**
 * True when `error` (or anything in its cause chain) says the connection or
 * the host is gone, rather than that the SQL was wrong: SQLSTATE class 08,
 * 57P01-57P03, socket errors, terminated connections and pool acquisition
 * timeouts.
 */
export const isConnectionError = (error: unknown): boolean => {
  for (const e of causes(error)) {
    if (e instanceof PostgresError) return e.reason !== "WrongRole"
    const code = (e as { code?: unknown }).code
    if (typeof code === "string") {
      if (code.startsWith("08") || code === "57P01" || code === "57P02" || code === "57P03") return true
      if (CONNECTION_CODES.has(code)) return true
    }
    const message = (e as { message?: unknown }).message
    if (typeof message === "string" && CONNECTION_MESSAGES.some((m) => message.includes(m))) return true
  }
  return false
}

/** True for pg-pool's own "no client became free in time" error. */
export const isAcquireTimeout = (error: unknown): boolean => {
  for (const e of causes(error)) {
    if (e instanceof Error && e.message === "timeout exceeded when trying to connect") return true
  }
  return false
}

/** Failures that retrying cannot mend: bad credentials, a missing database, a wrong role. */
export const isPermanent = (error: unknown): boolean => {
  for (const e of causes(error)) {
    if (e instanceof PostgresError && e.reason === "WrongRole") return true
    const code = (e as { code?: unknown }).code
    if (typeof code === "string" && (code.startsWith("28") || code === "3D000")) return true
  }
  return false
}

/** The innermost message, for log lines and error messages. */
export const describe = (error: unknown): string => {
  let last = "unknown error"
  for (const e of causes(error)) {
    const message = (e as { message?: unknown }).message
    if (typeof message === "string" && message !== "") last = message
  }
  return last
}

/** A `SqlError` that carries a `PostgresError`, for the statement error channel. */
export const toSqlError = (error: PostgresError): SqlError => new SqlError({ message: error.message, cause: error })
