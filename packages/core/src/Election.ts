/**
 * Which writer candidate takes writes, decided from what the health monitor
 * knows of each, with no I/O. Two candidates that answer as primaries are a
 * split brain: writes are refused rather than sent to either. Writes move
 * only when the current writer is in trouble (down, or answering as a
 * standby) and exactly one other candidate answers as a primary, so a
 * probe that merely failed never moves them.
 *
 * @since 0.2.0
 */
import type { HealthState } from "./HostState.js"

/**
 * What a host's last successful probe saw (`pg_is_in_recovery()`); `unknown` before any.
 *
 * @since 0.2.0
 * @category models
 */
export type ObservedRole = "primary" | "standby" | "unknown"

/**
 * One writer candidate, as the health monitor knows it.
 *
 * @since 0.2.0
 * @category models
 */
export interface Candidate {
  /** `host:port` */
  readonly host: string
  readonly state: HealthState
  readonly consecutiveFailures: number
  readonly observedRole: ObservedRole
}

/**
 * @since 0.2.0
 * @category models
 */
export interface Input {
  /** Every writer candidate, the current writer among them. */
  readonly candidates: ReadonlyArray<Candidate>
  /** The current writer's `host:port`. */
  readonly writer: string
  /** The split brain the previous decision found, so that a split brain is announced once. */
  readonly splitBrain: ReadonlyArray<string> | undefined
}

/**
 * @since 0.2.0
 * @category models
 */
export interface Decision {
  /** The candidates that answer as primaries while there is more than one; writes are refused then. */
  readonly splitBrain: ReadonlyArray<string> | undefined
  /** A split brain that differs from the previous one: say so once. */
  readonly announce: boolean
  /** The writer is down, or its last probe answered as a standby. */
  readonly troubled: boolean
  /** Where to move writes: set only when the writer is troubled and exactly one other candidate is a primary. */
  readonly target: string | undefined
}

/**
 * A candidate that answered its last probe as a primary. A suspect one does
 * not count: its last probe failed, so what it said before may be stale.
 *
 * @example
 * ```ts
 * import { Election } from "@pgfleet/core"
 *
 * Election.answersPrimary({ host: "a:5432", state: "healthy", consecutiveFailures: 0, observedRole: "primary" }) // true
 * ```
 *
 * @since 0.2.0
 * @category predicates
 */
export const answersPrimary = (candidate: Candidate): boolean =>
  candidate.state !== "down" && candidate.consecutiveFailures === 0 && candidate.observedRole === "primary"

/**
 * A writer that cannot take writes: down, or answering as a standby (a
 * demoted or restarted primary, a DNS or VIP flip). A writer that is only
 * suspect is not troubled yet.
 *
 * @example
 * ```ts
 * import { Election } from "@pgfleet/core"
 *
 * Election.isTroubled({ host: "a:5432", state: "healthy", consecutiveFailures: 0, observedRole: "standby" }) // true
 * ```
 *
 * @since 0.2.0
 * @category predicates
 */
export const isTroubled = (writer: Candidate): boolean =>
  writer.state === "down" || (writer.consecutiveFailures === 0 && writer.observedRole === "standby")

/**
 * Decides after a probe of a candidate: refuse writes while two candidates
 * are primaries; move writes when the writer is troubled and exactly one
 * other candidate is a primary.
 *
 * @example
 * ```ts
 * import { Election } from "@pgfleet/core"
 *
 * const decision = Election.decide({
 *   candidates: [
 *     { host: "a:5432", state: "down", consecutiveFailures: 2, observedRole: "primary" },
 *     { host: "b:5432", state: "healthy", consecutiveFailures: 0, observedRole: "primary" }
 *   ],
 *   writer: "a:5432",
 *   splitBrain: undefined
 * })
 * decision.target // "b:5432"
 * ```
 *
 * @since 0.2.0
 * @category decisions
 */
export const decide = (input: Input): Decision => {
  const primaries = input.candidates.filter(answersPrimary).map((c) => c.host)
  const splitBrain = primaries.length > 1 ? primaries : undefined
  const announce = splitBrain !== undefined && splitBrain.join() !== input.splitBrain?.join()
  const writer = input.candidates.find((c) => c.host === input.writer)
  const troubled = writer !== undefined && isTroubled(writer)
  const target = troubled && primaries.length === 1 && primaries[0] !== input.writer ? primaries[0] : undefined
  return { splitBrain, announce, troubled, target }
}

/**
 * Whether a host answers in the wrong role: a reader must be a standby (even
 * when it is also the writer: reads never go to a primary); the current
 * writer a primary; other candidates may be either. `unknown` is never wrong.
 *
 * @example
 * ```ts
 * import { Election } from "@pgfleet/core"
 *
 * Election.mismatch({ reader: true, writer: false }, "primary") // true: a promoted replica
 * Election.mismatch({ reader: false, writer: true }, "standby") // true: a demoted writer
 * Election.mismatch({ reader: false, writer: false }, "primary") // false: a spare candidate
 * ```
 *
 * @since 0.2.0
 * @category predicates
 */
export const mismatch = (
  host: { readonly reader: boolean; readonly writer: boolean },
  observed: ObservedRole
): boolean => host.reader ? observed === "primary" : host.writer && observed === "standby"
