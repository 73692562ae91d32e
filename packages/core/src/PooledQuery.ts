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
class Pooled implements Running {
  settled = false
  client: pg.PoolClient | undefined = undefined
  watched: Watch | undefined = undefined
  release: ((destroy?: Error | boolean) => void) | undefined = undefined
  grace: ReturnType<typeof setTimeout> | undefined = undefined
  // performance.now() when the connection was had: the wait before it, the use after it.
  checkedOutAt: number | undefined = undefined
  constructor(readonly pool: pg.Pool, readonly submit: Submit, readonly done: Done) {}

  start() {
    this.pool.connect((error, checkedOut, giveBack) => {
      if (this.settled) {
        giveBack?.()
        return
      }
      if (error || !checkedOut) {
        this.settled = true
        this.done(error ?? new Error("no connection"), undefined, "acquire", undefined)
        return
      }
      this.checkedOutAt = performance.now()
      this.client = checkedOut
      this.release = giveBack
      this.watched = watch(checkedOut, this)
      this.submit(checkedOut, (cause, result) => {
        // A connection that broke mid-statement must not go back to the pool.
        if (cause) {
          const broken = Failure.isHostEvidence(Failure.classify(cause).kind) ? cause : undefined
          this.finish(broken, cause, undefined, "statement")
        } else this.finish(undefined, undefined, result, "statement")
      })
    })
  }

  finish(destroy: Error | undefined, cause: Error | undefined, result: pg.QueryResult | undefined, stage: Stage) {
    if (this.watched !== undefined && this.watched.statement === this) this.watched.statement = undefined
    this.release?.(destroy)
    this.release = undefined
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
    this.grace = setTimeout(() => {
      // The statement did not stop: the connection cannot go back to the pool.
      if (this.watched !== undefined && this.watched.statement === this) this.watched.statement = undefined
      this.release?.(true)
      this.release = undefined
    }, cancelGraceMs)
    Connection.sendCancel(this.pool.options, this.client)
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
  const statement = new Pooled(pool, submit, done)
  statement.start()
  return statement
}
