/**
 * One node-postgres statement on a pooled connection, in plain callbacks: a
 * connection that broke under it is destroyed, and an interrupt sends
 * PostgreSQL's cancel request. The same path as `@pgfleet/postgres`'s.
 */
import { Connection, Failure } from "@pgfleet/core"
import type pg from "pg"

export type Submit = (client: pg.PoolClient, callback: (cause: Error | null, result: pg.QueryResult) => void) => void

/**
 * Where a statement failed: before it was sent (no connection could be had),
 * on its connection, or in the statement itself.
 */
export type Stage = "acquire" | "connection" | "statement"

/** A statement under way; `interrupt` gives up on it (see {@link query}). */
export interface Running {
  readonly interrupt: (cancelGraceMs: number) => void
}

/**
 * Runs one statement on a connection of `pool` checked out for it alone, and
 * tells `done` once. A connection that broke under the statement is
 * destroyed, not returned to the pool. Plain callbacks: both the Effect
 * statement path and the `pg.Pool` adapters run on it.
 */
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
