/**
 * `DB_POOL_TIMEOUT` on @effect/sql-pg 4's pool (`DB_DRIVER=sql-pg`), whose
 * waits have no bound: a host's statements and held connections take one of
 * its `capacity` slots, and past that wait in line here, each for at most
 * `waitMs`. sql-pg's own pool then never has a caller waiting for a free
 * connection. One timer per host while anyone waits, not one per statement.
 */
import * as Effect from "effect/Effect"
import type { SchedulerDispatcher } from "effect/Scheduler"

/** One caller's place: in line, then holding a slot, then done with it. */
export interface Ticket {
  held: boolean
  returned: boolean
}

export interface Admission {
  /** A ticket holding a slot now, or `undefined` when none is free. */
  readonly tryTake: () => Ticket | undefined
  /** A ticket holding a slot once one frees; fails with `timedOut()` when none does within `waitMs`. */
  readonly take: <E>(timedOut: () => E) => Effect.Effect<Ticket, E>
  /**
   * Gives `ticket`'s slot back; once, whoever calls it. The next in line is
   * woken through `dispatcher` (the giving fiber's), as effect's own `Pool`
   * wakes its waiters: woken inside the giver, it would run, and write to its
   * socket, before the giver's own work is done.
   */
  readonly give: (ticket: Ticket, dispatcher: SchedulerDispatcher) => void
}

interface Waiter {
  readonly ticket: Ticket
  readonly since: number
  readonly admit: () => void
  readonly fail: () => void
}

export const make = (capacity: number, waitMs: number): Admission => {
  let free = capacity
  const line: Array<Waiter> = []
  let timer: ReturnType<typeof setTimeout> | undefined

  // Waiters leave in the order they came, so only the first one's deadline needs a timer.
  const sweep = () => {
    timer = undefined
    const now = performance.now()
    while (line.length > 0 && now - line[0]!.since >= waitMs) line.shift()!.fail()
    if (line.length > 0) arm(line[0]!.since + waitMs - now)
  }
  const arm = (ms: number) => {
    if (timer !== undefined) return
    timer = setTimeout(sweep, Math.max(0, ms))
    timer.unref()
  }

  const give = (ticket: Ticket, dispatcher: SchedulerDispatcher) => {
    if (!ticket.held || ticket.returned) return
    ticket.returned = true
    const next = line.shift()
    if (next === undefined) free++
    else {
      // Its slot from now: an interrupt before it wakes gives it back.
      next.ticket.held = true
      dispatcher.scheduleTask(next.admit, 0)
    }
  }

  return {
    tryTake: () => {
      if (free === 0) return undefined
      free--
      return { held: true, returned: false }
    },
    take: <E>(timedOut: () => E) =>
      Effect.callback<Ticket, E>((resume) => {
        const ticket: Ticket = { held: false, returned: false }
        if (free > 0) {
          free--
          ticket.held = true
          return resume(Effect.succeed(ticket))
        }
        const waiter: Waiter = {
          ticket,
          since: performance.now(),
          admit: () => resume(Effect.succeed(ticket)),
          fail: () => resume(Effect.fail(timedOut()))
        }
        line.push(waiter)
        arm(waitMs)
        // Interrupted: out of line, or the slot it was just handed goes to the next.
        return Effect.withFiber((fiber) => {
          const at = line.indexOf(waiter)
          if (at >= 0) line.splice(at, 1)
          else give(ticket, fiber.currentDispatcher)
          return Effect.void
        })
      }),
    give
  }
}
