/**
 * One node-postgres statement on a pooled connection, in plain callbacks: a
 * connection that broke under it is destroyed, and an interrupt sends
 * PostgreSQL's cancel request.
 *
 * @since 0.2.0
 */
import type pg from "pg"
import * as Connection from "./Connection.js"
import * as Failure from "./Failure.js"
import * as Lane from "./internal/lane.js"

/**
 * Sends one statement on a checked-out client, and calls back once.
 *
 * @since 0.2.0
 * @category models
 */
export type Submit = (client: pg.PoolClient, callback: (cause: Error | null, result: pg.QueryResult) => void) => void

/**
 * Where a statement failed: before it was sent (no connection could be had),
 * on its connection, or in the statement itself.
 *
 * @since 0.2.0
 * @category models
 */
export type Stage = "acquire" | "connection" | "statement"

/**
 * Told once when a statement ends: its failure (with the `stage` it failed
 * at) or its result, and the `performance.now()` at which its connection
 * was had, if it was.
 *
 * @since 0.2.0
 * @category models
 */
export type Done = (
  cause: Error | undefined,
  result: pg.QueryResult | undefined,
  stage: Stage,
  checkedOutAt: number | undefined
) => void

/**
 * A statement under way.
 *
 * @since 0.2.0
 * @category models
 */
export interface Running {
  /**
   * Gives up on it, safely at every point: a connection that arrives after
   * goes straight back, and a running statement is stopped with PostgreSQL's
   * cancel request, sent on a connection of its own (so it works even when
   * the pool is exhausted). One still running `cancelGraceMs` later has its
   * connection destroyed.
   */
  readonly interrupt: (cancelGraceMs: number) => void
}

/** What a pooled client's connection failure is told to: the statement it runs now, if any. */
interface Watch {
  statement: Pooled | undefined
}
const watches = new WeakMap<pg.PoolClient, Watch>()

/** One "error" listener per client for its life, pointed at each statement in turn: cheaper than `once`/`off` per statement. */
const watch = (client: pg.PoolClient, statement: Pooled): Watch => {
  let slot = watches.get(client)
  if (slot === undefined) {
    const created: Watch = { statement: undefined }
    client.on("error", (cause: Error) => {
      const running = created.statement
      created.statement = undefined
      running?.finish(cause, cause, undefined, "connection")
    })
    watches.set(client, slot = created)
  }
  slot.statement = statement
  return slot
}

/** One statement on its way through a pool: its state in one object, so a statement costs few allocations. */
class Pooled implements Running, Lane.Waiter {
  settled = false
  client: pg.PoolClient | undefined = undefined
  watched: Watch | undefined = undefined
  release: ((destroy?: Error | boolean) => void) | undefined = undefined
  grace: ReturnType<typeof setTimeout> | undefined = undefined
  // performance.now() when the connection was had: the wait before it, the use after it.
  checkedOutAt: number | undefined = undefined
  readonly since = performance.now()
  constructor(readonly lane: Lane.Lane, readonly submit: Submit, readonly done: Done) {}

  take(client: pg.PoolClient, release: (destroy?: Error | boolean) => void) {
    this.checkedOutAt = performance.now()
    this.client = client
    this.release = release
    this.watched = watch(client, this)
    this.submit(client, (cause, result) => {
      // A connection that broke mid-statement must not go back to the pool.
      if (cause) {
        const broken = Failure.isHostEvidence(Failure.classify(cause).kind) ? cause : undefined
        this.finish(broken, cause, undefined, "statement")
      } else this.finish(undefined, undefined, result, "statement")
    })
  }

  fail(error: Error) {
    this.settled = true
    this.done(error, undefined, "acquire", undefined)
  }

  /** Gives the connection back (to the next statement waiting, or to the pool), once. */
  giveBack(destroy: Error | boolean | undefined) {
    if (this.watched !== undefined && this.watched.statement === this) this.watched.statement = undefined
    const release = this.release
    this.release = undefined
    if (release !== undefined) this.lane.done(this.client!, release, destroy)
  }

  finish(destroy: Error | undefined, cause: Error | undefined, result: pg.QueryResult | undefined, stage: Stage) {
    this.giveBack(destroy)
    if (this.grace !== undefined) clearTimeout(this.grace)
    if (!this.settled) {
      this.settled = true
      this.done(cause, result, stage, this.checkedOutAt)
    }
  }

  // A plain callback, not an effect: an interrupted fiber would never run an effect here.
  interrupt(cancelGraceMs: number) {
    this.settled = true
    if (this.client === undefined || this.release === undefined) return
    // The statement did not stop: the connection cannot be used again.
    this.grace = setTimeout(() => this.giveBack(true), cancelGraceMs)
    Connection.sendCancel(this.lane.pool.options, this.client)
  }
}

/**
 * Runs one statement on a connection of `pool` checked out for it alone, and
 * tells `done` once, with the `performance.now()` at which the connection
 * was had (the wait before it, the use after it). A connection that broke
 * under the statement is destroyed, not returned to the pool. Plain
 * callbacks: every pgfleet statement path (both Effect lines, the `pg.Pool`
 * adapters) runs on it.
 *
 * Statements queue in order. One that ends while others wait hands its
 * connection to the next, unless pg-pool would not keep it (broken,
 * expired, recycled, the pool ending) or someone else waits at pg-pool;
 * pg-pool is asked only when it can serve at once, or when no statement
 * holds a connection to hand on. The pool's `connectionTimeoutMillis`
 * bounds every wait, with pg-pool's own error.
 *
 * @example
 * ```ts
 * import { PooledQuery } from "@pgfleet/core"
 * import pg from "pg"
 *
 * const pool = new pg.Pool({ host: "127.0.0.1", max: 4 })
 * const running = PooledQuery.runPooled(
 *   pool,
 *   (client, callback) => client.query("SELECT 1", [], callback),
 *   (cause, result, stage) => console.log(cause === undefined ? result!.rows : `${stage}: ${cause.message}`)
 * )
 * // On a timeout or a shutdown: cancel it on the server, and destroy its connection if it runs on past 1 s.
 * running.interrupt(1000)
 * ```
 *
 * @since 0.2.0
 * @category running
 */
export const runPooled = (
  pool: pg.Pool,
  submit: Submit,
  done: Done
): Running => {
  const lane = Lane.of(pool)
  const statement = new Pooled(lane, submit, done)
  lane.enqueue(statement)
  return statement
}

/**
 * Statements of `pool` waiting for a connection that its `waitingCount`
 * does not count: pgfleet's statements wait for the connection of the one
 * before them (see `runPooled`), and ask pg-pool only when it can serve them
 * at once. Add it to `waitingCount` for the callers waiting in all.
 *
 * @example
 * ```ts
 * import { PooledQuery } from "@pgfleet/core"
 * import pg from "pg"
 *
 * const pool = new pg.Pool({ host: "127.0.0.1", max: 4 })
 * const waiting = pool.waitingCount + PooledQuery.waitingBeyondPool(pool) // 0
 * ```
 *
 * @since 0.2.0
 * @category pools
 */
export const waitingBeyondPool = (pool: pg.Pool): number => Lane.find(pool)?.beyondPool ?? 0

/**
 * Fails pgfleet's statements waiting for a connection of `pool` with
 * `error`, as `PoolControl.abandon` does pg-pool's own waiters.
 *
 * @example
 * ```ts
 * import { PooledQuery } from "@pgfleet/core"
 * import pg from "pg"
 *
 * const pool = new pg.Pool({ host: "127.0.0.1", max: 4 })
 * PooledQuery.failWaiting(pool, new Error("db1:5432 stopped answering"))
 * ```
 *
 * @since 0.2.0
 * @category pools
 */
export const failWaiting = (pool: pg.Pool, error: Error): void => Lane.find(pool)?.failAll(error)
