/**
 * The one error type pgfleet raises, with a `reason` that says what to do.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { PostgresError } from "@pgfleet/effect4"
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
 * Why a pgfleet operation failed: `ConnectFailed`, `WrongRole`,
 * `AcquireTimeout`, `Unavailable`, `NoHealthyReader`, `SplitBrain`, `NotSent`
 * (safe to retry), `OutcomeUnknown` (check before retrying) or `Misconfigured`.
 * Declared once in `@pgfleet/core`'s `Failure.Reason`.
 *
 * @since 0.1.0
 * @category errors
 */
export type PostgresErrorReason = Failure.Reason

/**
 * The one error type pgfleet raises. It names the host (`host:port`), never
 * the password. Query errors are `SqlError`s; when a query fails because of
 * pgfleet (a pool timeout, a host that is down), that `SqlError`'s reason
 * carries a `PostgresError` as its `cause`.
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
