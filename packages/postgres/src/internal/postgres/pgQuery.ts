/**
 * One node-postgres query as an Effect: failures as `SqlError`s, and an interrupt that sends
 * PostgreSQL's cancel request.
 */
import { SqlError } from "@effect/sql/SqlError"
import { Connection, Failure } from "@pgfleet/core"
import * as Effect from "effect/Effect"
import type pg from "pg"

/** The message of a failure before the statement was sent: no connection could be had. */
export const ACQUIRE_FAILED = "Failed to acquire connection"

/**
 * Where a running statement leaves its interrupt handler. The caller runs it
 * from the exit handler it already has (the statement's span), so a
 * statement pays for no interrupt hook of its own until an interrupt arrives.
 */
export interface OnInterrupt {
  run: (() => void) | undefined
}

/**
 * Runs one statement on a connection checked out for it alone.
 *
 * Interruption is safe at every point, once the caller runs `onInterrupt.run`:
 * a caller interrupted while waiting for a connection gives it straight back
 * when it arrives (nothing leaks), and a running statement is stopped with
 * PostgreSQL's cancel request, sent on a connection of its own, so it works
 * even when the pool is exhausted. A statement still running `cancelGraceMs`
 * later has its connection destroyed.
 */
export const query = (
  pool: pg.Pool,
  text: string,
  values: ReadonlyArray<unknown>,
  rowMode: "array" | undefined,
  cancelGraceMs: number,
  onInterrupt: OnInterrupt
): Effect.Effect<pg.QueryResult, SqlError> =>
  onPooledConnection(
    pool,
    // A config object costs pg a clone on every call; text and values do not.
    rowMode === undefined
      ? (client, callback) => client.query(text, values as Array<unknown>, callback)
      : (client, callback) => client.query({ text, values: values as Array<unknown>, rowMode }, callback),
    cancelGraceMs,
    onInterrupt
  )

/** {@link query} for a whole node-postgres query config (`rowMode`, `types`, `name`), as the `pg.Pool` adapters pass it. */
export const queryConfig = (
  pool: pg.Pool,
  config: pg.QueryConfig,
  cancelGraceMs: number,
  onInterrupt: OnInterrupt
): Effect.Effect<pg.QueryResult, SqlError> =>
  onPooledConnection(pool, (client, callback) => client.query(config, callback), cancelGraceMs, onInterrupt)

type Submit = (client: pg.PoolClient, callback: (cause: Error | null, result: pg.QueryResult) => void) => void

const onPooledConnection = (
  pool: pg.Pool,
  submit: Submit,
  cancelGraceMs: number,
  onInterrupt: OnInterrupt
): Effect.Effect<pg.QueryResult, SqlError> =>
  Effect.async<pg.QueryResult, SqlError>((resume) => {
    let settled = false
    let client: pg.PoolClient | undefined
    let release: ((destroy?: Error | boolean) => void) | undefined
    let stopped: (() => void) | undefined

    const finish = (destroy: Error | undefined, outcome: Effect.Effect<pg.QueryResult, SqlError>) => {
      client?.off("error", onConnectionError)
      release?.(destroy)
      release = undefined
      stopped?.()
      if (!settled) {
        settled = true
        resume(outcome)
      }
    }
    const onConnectionError = (cause: Error) =>
      finish(cause, Effect.fail(new SqlError({ cause, message: "Connection error" })))

    pool.connect((error, checkedOut, done) => {
      if (settled) {
        done?.()
        return
      }
      if (error || !checkedOut) {
        settled = true
        resume(Effect.fail(new SqlError({ cause: error, message: ACQUIRE_FAILED })))
        return
      }
      client = checkedOut
      release = done
      client.once("error", onConnectionError)
      const callback = (cause: Error | null, result: pg.QueryResult) => {
        // A connection that broke mid-statement must not go back to the pool.
        if (cause) {
          finish(
            Failure.isHostEvidence(Failure.classify(cause).kind) ? cause : undefined,
            Effect.fail(new SqlError({ cause, message: "Failed to execute statement" }))
          )
        } else finish(undefined, Effect.succeed(result))
      }
      submit(client, callback)
    })

    // A plain callback, not an effect: the fiber is already interrupted, so effects here would never run.
    onInterrupt.run = () => {
      settled = true
      if (client === undefined || release === undefined) return
      const running = client
      const grace = setTimeout(() => {
        // The statement did not stop: the connection cannot go back to the pool.
        running.off("error", onConnectionError)
        release?.(true)
        release = undefined
      }, cancelGraceMs)
      stopped = () => clearTimeout(grace)
      Connection.sendCancel(pool.options, running)
    }
  })
