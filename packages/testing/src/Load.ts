/**
 * Steady load for fault tests and demos: fibers that repeat one operation
 * until told to stop, counting what failed.
 *
 * @since 0.1.0
 */
import type * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Ref from "effect/Ref"

/**
 * @since 0.1.0
 * @category models
 */
export interface LoadResult {
  readonly runs: number
  readonly failed: number
  /** The first few failures, for the assertion message. */
  readonly failures: ReadonlyArray<Cause.Cause<unknown>>
}

/**
 * Runs `op` in a loop on `fibers` fibers until `stop` is set. A failure
 * pauses its fiber for 10 ms, so a fast-failing `op` cannot spin.
 *
 * @example
 * ```ts
 * import { Effect, Fiber, Ref } from "effect"
 * import { untilStopped } from "@pgfleet/testing"
 *
 * const twoSeconds = (read: Effect.Effect<unknown, unknown>) => Effect.gen(function*() {
 *   const stop = yield* Ref.make(false)
 *   const load = yield* Effect.fork(untilStopped(read, 32, stop))
 *   yield* Effect.sleep("2 seconds")
 *   yield* Ref.set(stop, true)
 *   return yield* Fiber.join(load)
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const untilStopped = <E, R>(
  op: Effect.Effect<unknown, E, R>,
  fibers: number,
  stop: Ref.Ref<boolean>
): Effect.Effect<LoadResult, never, R> =>
  Effect.forEach(
    Array.from({ length: fibers }),
    () =>
      Effect.gen(function*() {
        const failures: Array<Cause.Cause<unknown>> = []
        let failed = 0
        let runs = 0
        while (!(yield* Ref.get(stop))) {
          const exit = yield* Effect.exit(op)
          runs++
          if (Exit.isFailure(exit)) {
            if (failed++ < 5) failures.push(exit.cause)
            yield* Effect.sleep("10 millis")
          }
        }
        return { failures, failed, runs }
      }),
    { concurrency: "unbounded" }
  ).pipe(Effect.map((all) => ({
    runs: all.reduce((n, r) => n + r.runs, 0),
    failed: all.reduce((n, r) => n + r.failed, 0),
    failures: all.flatMap((r) => r.failures)
  })))
