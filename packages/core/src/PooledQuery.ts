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

/** Where a pooled client's connection failure goes: the statement it runs now, if any. */
interface Watch {
  onError: ((cause: Error) => void) | undefined
}
const watches = new WeakMap<pg.PoolClient, Watch>()

/** One "error" listener per client for its life, pointed at each statement in turn: cheaper than `once`/`off` per statement. */
const watch = (client: pg.PoolClient, onError: (cause: Error) => void): Watch => {
  let slot = watches.get(client)
  if (slot === undefined) {
    const created: Watch = { onError: undefined }
    client.on("error", (cause: Error) => {
      const handler = created.onError
      created.onError = undefined
      handler?.(cause)
    })
    watches.set(client, slot = created)
  }
  slot.onError = onError
  return slot
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
  done: (
    cause: Error | undefined,
    result: pg.QueryResult | undefined,
    stage: Stage,
    checkedOutAt: number | undefined
  ) => void
): Running => {
  let settled = false
  let client: pg.PoolClient | undefined
  let watched: Watch | undefined
  let release: ((destroy?: Error | boolean) => void) | undefined
  let stopped: (() => void) | undefined
  // performance.now() when the connection was had: the wait before it, the use after it.
  let checkedOutAt: number | undefined

  const finish = (
    destroy: Error | undefined,
    cause: Error | undefined,
    result: pg.QueryResult | undefined,
    stage: Stage
  ) => {
    if (watched !== undefined) watched.onError = undefined
    release?.(destroy)
    release = undefined
    stopped?.()
    if (!settled) {
      settled = true
      done(cause, result, stage, checkedOutAt)
    }
  }
  const onConnectionError = (cause: Error) => finish(cause, cause, undefined, "connection")

  pool.connect((error, checkedOut, giveBack) => {
    if (settled) {
      giveBack?.()
      return
    }
    if (error || !checkedOut) {
      settled = true
      done(error ?? new Error("no connection"), undefined, "acquire", undefined)
      return
    }
    checkedOutAt = performance.now()
    client = checkedOut
    release = giveBack
    watched = watch(checkedOut, onConnectionError)
    submit(client, (cause, result) => {
      // A connection that broke mid-statement must not go back to the pool.
      if (cause) {
        finish(Failure.isHostEvidence(Failure.classify(cause).kind) ? cause : undefined, cause, undefined, "statement")
      } else finish(undefined, undefined, result, "statement")
    })
  })

  return {
    // A plain callback, not an effect: an interrupted fiber would never run an effect here.
    interrupt: (cancelGraceMs) => {
      settled = true
      if (client === undefined || release === undefined) return
      const running = client
      const grace = setTimeout(() => {
        // The statement did not stop: the connection cannot go back to the pool.
        if (watched !== undefined) watched.onError = undefined
        release?.(true)
        release = undefined
      }, cancelGraceMs)
      stopped = () => clearTimeout(grace)
      Connection.sendCancel(pool.options, running)
    }
  }
}
