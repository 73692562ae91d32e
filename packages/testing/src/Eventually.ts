/**
 * Waiting for a state that real servers reach in their own time, without
 * fixed sleeps.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"

/**
 * Runs `check` every 100 ms until it gives `true`; dies, naming `what`, when
 * it has not after `attempts` tries (15 s by default).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { eventually } from "@pgfleet/testing"
 *
 * const caughtUp = (lag: Effect.Effect<number>) => eventually(Effect.map(lag, (n) => n === 0), "replica caught up")
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const eventually = <E, R>(
  check: Effect.Effect<boolean, E, R>,
  what = "condition",
  attempts = 150
): Effect.Effect<void, never, R> =>
  check.pipe(
    Effect.filterOrFail((ok) => ok, () => `${what} did not hold after ${attempts} checks`),
    Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.intersect(Schedule.recurs(attempts)))),
    Effect.orDie,
    Effect.asVoid
  )
