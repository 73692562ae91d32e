/**
 * What a failure says about its host. Health, retries and error messages all
 * ask {@link classify}; this table is the one place that decides.
 *
 * @since 0.2.0
 */

/**
 * Why a pgfleet operation failed; the Effect packages' `PostgresError`
 * carries one. Documented there.
 *
 * @since 0.2.0
 * @category models
 */
export type Reason =
  | "ConnectFailed"
  | "WrongRole"
  | "AcquireTimeout"
  | "Unavailable"
  | "NoHealthyReader"
  | "Misconfigured"
  | "SplitBrain"
  | "NotSent"
  | "OutcomeUnknown"

/**
 * - `connection-lost`: one connection died (57P01 from a terminated backend,
 *   class 08, ECONNRESET, EPIPE). The host may be fine: a probe tells.
 * - `unreachable`: no connection could be made (ECONNREFUSED, a connect
 *   timeout, a blackhole, DNS).
 * - `server-unavailable`: the server is shutting down, crashed or starting (57P02, 57P03).
 * - `overload`: no pooled connection became free in time, or the server has
 *   too many connections (53300). Never a sign of death.
 * - `misconfiguration`: TLS refused or unverifiable, authentication (28xxx),
 *   an unknown database (3D000), a host in the wrong role. Retrying cannot mend it.
 * - `statement`: anything else; the SQL itself failed.
 *
 * @since 0.2.0
 * @category models
 */
export type Kind =
  | "connection-lost"
  | "unreachable"
  | "server-unavailable"
  | "overload"
  | "misconfiguration"
  | "statement"

/**
 * The setting a misconfiguration points at, for the message that names it.
 *
 * @since 0.2.0
 * @category models
 */
export type Misconfigured = "tls-not-offered" | "certificate" | "authentication" | "database" | "role"

/**
 * Kinds that are evidence the host itself may be gone: they make it suspect and trigger a probe.
 *
 * @since 0.2.0
 * @category predicates
 */
export const isHostEvidence = (kind: Kind): boolean =>
  kind === "connection-lost" || kind === "unreachable" || kind === "server-unavailable"

const LOST_CODES = new Set(["ECONNRESET", "EPIPE", "ECONNABORTED"])
const UNREACHABLE_CODES = new Set([
  "ECONNREFUSED",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EHOSTDOWN",
  "ENOTFOUND",
  "EAI_AGAIN"
])
/** Node's TLS verification codes (`tls.checkServerIdentity` and OpenSSL's). */
const CERTIFICATE_CODES = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "CERT_UNTRUSTED",
  "CERT_SIGNATURE_FAILURE",
  "ERR_TLS_CERT_ALTNAME_INVALID"
])
/**
 * pg-pool's message when a wait for a free pooled connection ran out: an
 * overload. pgfleet's own bound on sql-pg 4's pool fails with it too.
 *
 * @example
 * ```ts
 * import { Failure } from "@pgfleet/core"
 *
 * Failure.classify(new Error(Failure.POOL_WAIT_TIMEOUT)).kind // "overload"
 * ```
 *
 * @since 0.2.0
 * @category classification
 */
export const POOL_WAIT_TIMEOUT = "timeout exceeded when trying to connect"

/** pg's own messages, which carry no code. */
const MESSAGES: ReadonlyArray<readonly [string, Kind, Misconfigured?]> = [
  ["The server does not support SSL connections", "misconfiguration", "tls-not-offered"],
  [POOL_WAIT_TIMEOUT, "overload"],
  // pg-pool and pg.Client: opening one connection ran out of time.
  ["Connection terminated due to connection timeout", "unreachable"],
  ["timeout expired", "unreachable"],
  ["probe timed out", "unreachable"],
  ["Connection terminated", "connection-lost"],
  ["Client has encountered a connection error", "connection-lost"],
  ["Connection closed", "connection-lost"]
]

/**
 * One classified failure.
 *
 * @since 0.2.0
 * @category models
 */
export interface Failure {
  readonly kind: Kind
  readonly misconfigured?: Misconfigured | undefined
  /** The SQLSTATE or socket error code that decided, when one did. */
  readonly code?: string | undefined
}

const causes = function*(error: unknown): Generator<unknown> {
  for (let e = error, depth = 0; e !== undefined && e !== null && depth < 8; depth++) {
    yield e
    e = (e as { cause?: unknown }).cause
  }
}

const byReason: Record<Reason, Failure> = {
  AcquireTimeout: { kind: "overload" },
  WrongRole: { kind: "misconfiguration", misconfigured: "role" },
  Misconfigured: { kind: "misconfiguration" },
  ConnectFailed: { kind: "unreachable" },
  Unavailable: { kind: "unreachable" },
  NoHealthyReader: { kind: "unreachable" },
  SplitBrain: { kind: "misconfiguration" },
  NotSent: { kind: "unreachable" },
  OutcomeUnknown: { kind: "connection-lost" }
}

const byCode = (code: string): Failure | undefined => {
  if (code === "57P01") return { kind: "connection-lost" }
  if (code === "57P02" || code === "57P03") return { kind: "server-unavailable" }
  if (code === "53300") return { kind: "overload" }
  if (code === "3D000") return { kind: "misconfiguration", misconfigured: "database" }
  if (code.startsWith("28")) return { kind: "misconfiguration", misconfigured: "authentication" }
  if (code.length === 5 && code.startsWith("08")) return { kind: "connection-lost" }
  if (LOST_CODES.has(code)) return { kind: "connection-lost" }
  if (UNREACHABLE_CODES.has(code)) return { kind: "unreachable" }
  if (CERTIFICATE_CODES.has(code)) return { kind: "misconfiguration", misconfigured: "certificate" }
  return undefined
}

const statement: Failure = { kind: "statement" }
const lost: Failure = { kind: "connection-lost" }

/** pgfleet's own error, from either Effect line: a tagged error with a known reason. */
const reasonOf = (e: unknown): Reason | undefined => {
  if ((e as { _tag?: unknown })._tag !== "PostgresError") return undefined
  const reason = (e as { reason?: unknown }).reason
  return typeof reason === "string" && Object.hasOwn(byReason, reason) ? reason as Reason : undefined
}

/**
 * Classifies `error` by the first thing in its cause chain that says what happened.
 *
 * @example
 * ```ts
 * import { Failure } from "@pgfleet/core"
 *
 * Failure.classify(Object.assign(new Error("terminating connection"), { code: "57P01" })).kind // "connection-lost"
 * ```
 *
 * @since 0.2.0
 * @category classification
 */
export const classify = (error: unknown): Failure => {
  let firstCode: string | undefined
  let connectionError = false
  for (const e of causes(error)) {
    const reason = reasonOf(e)
    if (reason !== undefined) return byReason[reason]
    // effect 4's SqlError reason for a lost or unopenable connection (@effect/sql-pg 4's own driver).
    if ((e as { _tag?: unknown })._tag === "ConnectionError") connectionError = true
    const code = (e as { code?: unknown }).code
    if (typeof code === "string") {
      const found = byCode(code)
      if (found !== undefined) return { ...found, code }
      firstCode ??= code
    }
    const message = (e as { message?: unknown }).message
    if (typeof message === "string") {
      for (const [text, kind, misconfigured] of MESSAGES) {
        if (message.includes(text)) return { kind, misconfigured }
      }
    }
  }
  if (firstCode !== undefined) return { kind: "statement", code: firstCode }
  return connectionError ? lost : statement
}

/**
 * The innermost message, for log lines and error messages.
 *
 * @since 0.2.0
 * @category utils
 */
export const describe = (error: unknown): string => {
  let last = "unknown error"
  for (const e of causes(error)) {
    const message = (e as { message?: unknown }).message
    if (typeof message === "string" && message !== "") last = message
  }
  return last
}

/**
 * What to tell the user about a misconfiguration, naming the variable to fix (never a secret).
 *
 * @since 0.2.0
 * @category utils
 */
export const misconfigurationMessage = (
  misconfigured: Misconfigured | undefined,
  host: string,
  context: { readonly ssl: string; readonly sslCaFile: string | undefined; readonly database: string },
  error: unknown
): string => {
  const detail = describe(error)
  switch (misconfigured) {
    case "tls-not-offered":
      return `DB_SSL_MODE=${context.ssl} requires TLS, but ${host} does not offer it (${detail}); ` +
        `enable ssl on the server or set DB_SSL_MODE=disable`
    case "certificate":
      return `the TLS certificate of ${host} could not be verified against ${
        context.sslCaFile === undefined ? "the system roots (DB_SSL_CA_FILE is not set)" : `DB_SSL_CA_FILE`
      }: ${detail}`
    case "authentication":
      return `${host} refused the login (${detail}); check DB_USERNAME and the password (DB_PASSWORD, ` +
        `DB_PASSWORD_FILE or passwordProvider)`
    case "database":
      return `${host} has no database "${context.database}" (${detail}); check DB_NAME`
    default:
      return `${host}: ${detail}`
  }
}
