/**
 * The one error type pgfleet raises, with a `reason` that says what to do.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { PostgresError } from "@pgfleet/postgres"
 *
 * const openPools = Effect.fail(
 *   new PostgresError.PostgresError({ reason: "Unavailable", host: "db-primary:5432", message: "the writer is down" })
 * )
 * const logged = openPools.pipe(
 *   Effect.catchTag("PostgresError", (e) => Effect.logWarning(`${e.reason} on ${e.host}: ${e.message}`))
 * )
 * ```
 *
 * @since 0.1.0
 */
import type { Failure } from "@pgfleet/core"
import * as Data from "effect/Data"

/**
 * Why a pgfleet operation failed.
 *
 * - `ConnectFailed`: a pool could not open or warm up its connections (after retries).
 * - `WrongRole`: a host is a primary where a standby was expected, or the reverse.
 * - `AcquireTimeout`: no pooled connection became free within `DB_POOL_TIMEOUT`,
 *   or the server refused a new one (53300, too many connections). Overload,
 *   never a reason to route around the host.
 * - `Unavailable`: the host is known to be down, so the call failed fast.
 * - `NoHealthyReader`: every replica is down and `DB_READER_FALLBACK=fail`.
 * - `SplitBrain`: more than one writer candidate answers as a primary; pgfleet
 *   refuses writes rather than guess.
 * - `NotSent`: a write never reached the server (no connection could be
 *   had): safe to retry.
 * - `OutcomeUnknown`: the connection dropped after a write or `COMMIT` was
 *   sent; it may or may not have taken effect (SQLSTATE 08007,
 *   transaction_resolution_unknown). Check before retrying.
 * - `Misconfigured`: retrying cannot help: TLS not offered or not verifiable,
 *   a refused login, an unknown database. The message names the `DB_*`
 *   variable to fix.
 *
 * @since 0.1.0
 * @category errors
 */
export type PostgresErrorReason = Failure.Reason

/**
 * The one error type pgfleet raises. It names the host (`host:port`), never
 * the password. Query errors are `SqlError`s; when a query fails because of
 * pgfleet (a pool timeout, a host that is down), that `SqlError`'s `cause` is
 * a `PostgresError`.
 *
 * @since 0.1.0
 * @category errors
 */
export class PostgresError extends Data.TaggedError("PostgresError")<{
  readonly reason: PostgresErrorReason
  readonly host: string
  readonly message: string
  readonly cause?: unknown
}> {}

/**
 * @since 0.1.0
 * @category refinements
 */
export const isPostgresError = (u: unknown): u is PostgresError => u instanceof PostgresError
