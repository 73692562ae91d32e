/**
 * The statement a fiber waits on, stopped when an interrupt took the fiber
 * away from it. `Effect.async`'s canceller would say so at once, but with its
 * `onInterrupt` frame the reader's statement took about 40% more client CPU
 * (`scripts/statement-path-ab.mjs`: 151 against 106 µs). A fiber runs one statement at a
 * time, so one observer per fiber serves all its statements: a statement
 * still unanswered when its fiber ends, or when the fiber starts another, was
 * left by an interrupt. An interrupted fiber ends as soon as its finalizers
 * have run (`Fiber.interrupt`, `Effect.timeout` and races all run the
 * statement in a fiber of its own), so the cancel request goes out then.
 */
import type * as Fiber from "effect/Fiber"

/** What to do with a statement its fiber left. */
export interface Abandoned {
  readonly abandon: () => void
}

/** A fiber's statement in flight. */
export interface Slot {
  statement: Abandoned | undefined
}

const slots = new WeakMap<Fiber.RuntimeFiber<unknown, unknown>, Slot>()

/** The fiber's slot, made (with its one observer) on its first statement. */
const slotOf = (fiber: Fiber.RuntimeFiber<unknown, unknown>): Slot => {
  let slot = slots.get(fiber)
  if (slot === undefined) {
    const made: Slot = { statement: undefined }
    fiber.addObserver(() => {
      const left = made.statement
      made.statement = undefined
      left?.abandon()
    })
    slots.set(fiber, slot = made)
  }
  return slot
}

/** `statement` is now what `fiber` waits on; one it left unanswered before is abandoned. */
export const start = (fiber: Fiber.RuntimeFiber<unknown, unknown>, statement: Abandoned): Slot => {
  const slot = slotOf(fiber)
  const left = slot.statement
  slot.statement = statement
  left?.abandon()
  return slot
}

/** `statement` answered its fiber. */
export const end = (slot: Slot, statement: Abandoned): void => {
  if (slot.statement === statement) slot.statement = undefined
}
