import { Effect, Exit, Fiber, Scheduler } from "effect"
import { describe, expect, it } from "vitest"
import * as SqlPgAdmission from "../src/internal/sqlPgAdmission.js"

const timedOut = () => "timed out" as const
/** Where a given-back slot wakes the next in line: flushed by hand, so each step is seen. */
const dispatcher = new Scheduler.MixedScheduler().makeDispatcher()

describe("sql-pg admission (DB_POOL_TIMEOUT under DB_DRIVER=sql-pg)", () => {
  it("lends at most `capacity` slots; a slot given back goes to the first in line", async () => {
    const admission = SqlPgAdmission.make(1, 10_000)
    const first = admission.tryTake()!
    expect(admission.tryTake()).toBeUndefined()
    const order: Array<string> = []
    const waiting = Effect.runFork(Effect.all([
      Effect.tap(admission.take(timedOut), () => Effect.sync(() => order.push("a"))),
      Effect.tap(admission.take(timedOut), () => Effect.sync(() => order.push("b")))
    ], { concurrency: "unbounded" }))
    await Effect.runPromise(Effect.yieldNow)
    admission.give(first, dispatcher)
    // Given twice, it is given once: "b" must still wait.
    admission.give(first, dispatcher)
    expect(order).toEqual([])
    dispatcher.flush()
    await Effect.runPromise(Effect.yieldNow)
    expect(order).toEqual(["a"])
    await Effect.runPromise(Fiber.interrupt(waiting))
  })

  it("a caller that waited `waitMs` fails with the timeout's error, and the line moves on", async () => {
    const admission = SqlPgAdmission.make(1, 50)
    const held = admission.tryTake()!
    const exit = await Effect.runPromise(Effect.exit(admission.take(timedOut)))
    expect(exit).toEqual(Exit.fail("timed out"))
    admission.give(held, dispatcher)
    expect(admission.tryTake()).toBeDefined()
  })

  it("an interrupted caller leaves the line, and a slot handed to it goes back", async () => {
    const admission = SqlPgAdmission.make(1, 10_000)
    const held = admission.tryTake()!
    const left = Effect.runFork(admission.take(timedOut))
    await Effect.runPromise(Effect.yieldNow)
    await Effect.runPromise(Fiber.interrupt(left))
    admission.give(held, dispatcher)
    // Nobody was left in line, so the slot is free again, once.
    const again = admission.tryTake()
    expect(again).toBeDefined()
    expect(admission.tryTake()).toBeUndefined()

    // Interrupted after it was handed the slot, before it woke: the slot goes back.
    const handed = Effect.runFork(admission.take(timedOut))
    await Effect.runPromise(Effect.yieldNow)
    admission.give(again!, dispatcher)
    await Effect.runPromise(Fiber.interrupt(handed))
    dispatcher.flush()
    expect(admission.tryTake()).toBeDefined()
  })
})
