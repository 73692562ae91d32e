/**
 * A pool's connections handed from one pgfleet statement straight to the
 * next. A statement waits here, in a FIFO of its pool, and asks pg-pool only
 * when pg-pool can serve it now, or when none of ours holds a connection
 * that would come to it. A statement that ends with others waiting gives
 * them its connection without going back through pg-pool, whose checkout
 * (a `process.nextTick`, a timer, listeners moved, a closure) cost about
 * 5 µs a statement on this project's bench. pg-pool still opens, counts,
 * expires and closes every connection, and serves everyone else.
 */
import type pg from "pg"
import { POOL_WAIT_TIMEOUT } from "../Failure.js"

/** A statement waiting in a lane. */
export interface Waiter {
  /** Settled (interrupted, or failed): passed over. */
  readonly settled: boolean
  /** `performance.now()` when it came. */
  readonly since: number
  /** Its connection: run on it, and give it back through {@link Lane.done}. */
  readonly take: (client: pg.PoolClient, release: (destroy?: Error | boolean) => void) => void
  /** No connection for it: `DB_POOL_TIMEOUT` passed, pg-pool failed to connect, or the pool was abandoned. */
  readonly fail: (error: Error) => void
}

/** pg-pool's own state: what the lane reads to mirror its checks, and what `PoolControl` reads and changes. */
export interface PoolInternals {
  readonly _clients: Array<pg.PoolClient>
  readonly _idle: Array<{ readonly client: pg.PoolClient }>
  readonly _pendingQueue: Array<{ readonly callback: (error: Error) => void }>
  readonly _expired: WeakSet<pg.PoolClient>
  readonly ending: boolean
  readonly options: { readonly max: number; readonly maxUses?: number; readonly connectionTimeoutMillis?: number }
  _remove(client: pg.PoolClient): void
}

/** What pg-pool checks of a client at release, before it keeps it. */
interface ClientInternals {
  readonly _queryable: boolean
  readonly _ending: boolean
  _poolUseCount?: number
}

/** One pool's waiting statements and the connections they hold. */
export class Lane {
  private readonly waiting: Array<Waiter | undefined> = []
  private head = 0
  /** Connections asked of pg-pool and not yet answered. */
  private asked = 0
  /** Connections our statements hold. */
  private running = 0
  private timer: ReturnType<typeof setTimeout> | undefined = undefined
  private pumping = false
  private readonly internals: PoolInternals

  constructor(readonly pool: pg.Pool) {
    this.internals = pool as unknown as PoolInternals
  }

  /** Statements waiting here that pg-pool's `waitingCount` does not count. */
  get beyondPool(): number {
    let n = 0
    for (let i = this.head; i < this.waiting.length; i++) if (this.waiting[i]?.settled === false) n++
    return Math.max(0, n - this.asked)
  }

  /** `waiter` wants a connection. */
  enqueue(waiter: Waiter): void {
    this.waiting.push(waiter)
    this.pump()
  }

  /**
   * `client` finished a statement: to the next waiter when it may be kept,
   * else back to pg-pool (`destroy` as pg-pool's `release` takes it).
   */
  done(client: pg.PoolClient, release: (destroy?: Error | boolean) => void, destroy: Error | boolean | undefined) {
    this.running--
    const next = (destroy === undefined || destroy === false) && this.keepable(client) ? this.next() : undefined
    if (next === undefined) {
      release(destroy)
      this.pump()
      return
    }
    const internals = client as unknown as ClientInternals
    internals._poolUseCount = (internals._poolUseCount ?? 0) + 1
    this.running++
    next.take(client, release)
  }

  /** Every waiting statement fails with `error` (the pool was abandoned). */
  failAll(error: Error): void {
    for (let next = this.next(); next !== undefined; next = this.next()) next.fail(error)
  }

  /** What pg-pool's release checks, and nobody else waiting at pg-pool: it serves those first. */
  private keepable(client: pg.PoolClient): boolean {
    const pool = this.internals
    const c = client as unknown as ClientInternals
    return !pool.ending && c._queryable && !c._ending && !pool._expired.has(client) &&
      (c._poolUseCount ?? 0) + 1 < (pool.options.maxUses ?? Infinity) &&
      pool._pendingQueue.length <= this.asked
  }

  /** The first waiter not settled, taken off the queue. */
  private next(): Waiter | undefined {
    // Under steady load the queue never empties: drop the taken slots now and then.
    if (this.head >= 1024 && this.head * 2 >= this.waiting.length) {
      this.waiting.splice(0, this.head)
      this.head = 0
    }
    while (this.head < this.waiting.length) {
      const waiter = this.waiting[this.head]
      this.waiting[this.head++] = undefined
      if (waiter !== undefined && !waiter.settled) return waiter
    }
    this.waiting.length = 0
    this.head = 0
    return undefined
  }

  /** The first waiter not settled, left on the queue. */
  private oldest(): Waiter | undefined {
    for (let i = this.head; i < this.waiting.length; i++) {
      const waiter = this.waiting[i]
      if (waiter !== undefined && !waiter.settled) return waiter
    }
    return undefined
  }

  private get waitingCount(): number {
    return this.waiting.length - this.head
  }

  /**
   * Asks pg-pool for a connection per waiter while pg-pool can serve one now
   * (idle, or room for a new one), or while none of ours will hand one on.
   */
  private pump(): void {
    // pg-pool answers some asks at once (an ending pool): the outer loop goes on, with no recursion.
    if (this.pumping) return
    this.pumping = true
    const pool = this.internals
    while (this.waitingCount > this.asked) {
      const free = pool._idle.length + pool.options.max - pool._clients.length - pool._pendingQueue.length
      if (free <= 0 && this.asked + this.running > 0 && !pool.ending) break
      this.asked++
      this.pool.connect(this.answered)
    }
    this.pumping = false
    if (this.waitingCount > this.asked) this.armTimeout()
  }

  private readonly answered = (
    error: Error | undefined,
    client: pg.PoolClient | undefined,
    release: (destroy?: Error | boolean) => void
  ): void => {
    this.asked--
    if (error !== undefined || client === undefined) {
      // The oldest of ours fails, unless this ask waited longer than it did: the lane's own timer is its bound.
      const oldest = this.oldest()
      const early = error?.message === POOL_WAIT_TIMEOUT && oldest !== undefined &&
        performance.now() - oldest.since < (this.internals.options.connectionTimeoutMillis ?? 0)
      if (!early) this.next()?.fail(error ?? new Error("no connection"))
      this.pump()
      return
    }
    const next = this.next()
    if (next === undefined) {
      release()
      return
    }
    this.running++
    next.take(client, release)
  }

  /** `DB_POOL_TIMEOUT` for the waiters pg-pool does not time: one timer a lane, for the oldest. */
  private armTimeout(): void {
    const timeoutMs = this.internals.options.connectionTimeoutMillis ?? 0
    if (timeoutMs <= 0 || this.timer !== undefined) return
    const oldest = this.oldest()
    if (oldest === undefined) return
    this.timer = setTimeout(() => {
      this.timer = undefined
      const now = performance.now()
      while (this.head < this.waiting.length) {
        const waiter = this.waiting[this.head]
        if (waiter !== undefined && !waiter.settled && now - waiter.since < timeoutMs) break
        this.waiting[this.head++] = undefined
        if (waiter !== undefined && !waiter.settled) waiter.fail(new Error(POOL_WAIT_TIMEOUT))
      }
      this.pump()
    }, Math.max(1, timeoutMs - (performance.now() - oldest.since)))
    this.timer.unref()
  }
}

const lanes = new WeakMap<pg.Pool, Lane>()

/** The lane of `pool`, made on its first statement. */
export const of = (pool: pg.Pool): Lane => {
  let lane = lanes.get(pool)
  if (lane === undefined) lanes.set(pool, lane = new Lane(pool))
  return lane
}

/** The lane of `pool`, if a statement has made one. */
export const find = (pool: pg.Pool): Lane | undefined => lanes.get(pool)
