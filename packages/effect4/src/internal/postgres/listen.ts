/**
 * One `LISTEN` connection per fleet, to the writer, shared by every channel and following the writer
 * when it moves (the Effect 3 line's, in v4's terms: `listen` gives a queue, as @effect/sql-pg 4's does).
 */
import type * as PgConnection from "@effect/sql-pg/PgConnection"
import { Connection, Failure } from "@pgfleet/core"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import type { SqlError } from "effect/sql/SqlError"
import pg from "pg"
import type { HostPool } from "../../HostPool.js"
import type { PostgresSettings } from "../../PostgresConfig.js"

/**
 * A fleet's one `LISTEN` connection, to the current writer, shared by every
 * channel of every client (`writer`, `reader`, `auto`). It is opened with the
 * fleet, so that a new subscription costs one round trip rather than a
 * connect; it is never a pool connection.
 */
export interface Listener {
  /**
   * The notifications sent to `channel`, in a queue that is ready once the
   * connection listens on it and that stops when the scope closes. The
   * channel's first subscriber issues `LISTEN`, its last `UNLISTEN`.
   * Notifications sent while the connection is down are lost, as they are in
   * PostgreSQL itself.
   */
  readonly listen: (
    channel: string
  ) => Effect.Effect<Queue.Dequeue<PgConnection.Notification, SqlError>, SqlError, Scope.Scope>
}

interface Channel {
  readonly subscribers: Set<(n: PgConnection.Notification) => void>
  /** Subscribers that wait until the connection listens on the channel. */
  readonly waiting: Set<Deferred.Deferred<void>>
  /** The connection whose `LISTEN` on the channel is done. */
  listenedOn: pg.Client | undefined
}

interface Session {
  readonly client: pg.Client
  readonly lose: (cause: unknown) => void
}

/**
 * Opens the connection (waiting for the first attempt) and keeps it open
 * until the scope closes. When it breaks, or the pool it came from closes
 * (writes moved to another primary), it reconnects at once, then with the
 * retry backoff capped at `DB_CONNECT_RETRY_MAX_DELAY_MS`, and issues
 * `LISTEN` again for every channel, logging a warning.
 */
export const make = (writer: HostPool, settings: PostgresSettings): Effect.Effect<Listener, never, Scope.Scope> =>
  Effect.gen(function*() {
    const channels = new Map<string, Channel>()
    /** The connection, once connected, until it is lost. */
    let current: Session | undefined
    const firstAttempt = Deferred.makeUnsafe<void>()

    const listenOn = (session: Session, name: string, channel: Channel) =>
      session.client.query(`LISTEN ${pg.escapeIdentifier(name)}`).then(() => {
        channel.listenedOn = session.client
        for (const ready of channel.waiting) Deferred.doneUnsafe(ready, Exit.void)
        channel.waiting.clear()
      })

    /**
     * Connects to the current writer and listens on every channel. Fails when
     * that fails; once open, succeeds with the cause when the connection is lost.
     */
    const session = Effect.callback<unknown, unknown>((resume) => {
      let open = false
      let lost = false
      const lose = (cause: unknown) => {
        if (lost) return
        lost = true
        if (current === self) current = undefined
        self.client.removeAllListeners("notification")
        Connection.destroySocket(self.client)
        Deferred.doneUnsafe(firstAttempt, Exit.void)
        resume(open ? Effect.succeed(cause) : Effect.fail(cause))
      }
      // A client of the current writer's pool: closing that pool (writes moved to another primary) ends it.
      const self: Session = { client: writer.newClient(), lose }
      self.client.on("error", lose)
      self.client.on("end", () => lose(new Error("the listen connection ended")))
      self.client.on("notification", ({ channel, payload, processId }) => {
        const notification = { processId, channel, payload: payload ?? "" }
        channels.get(channel)?.subscribers.forEach((deliver) => deliver(notification))
      })
      self.client.connect()
        .then(() => {
          current = self
          return Promise.all(Array.from(channels, ([name, channel]) => listenOn(self, name, channel)))
        })
        .then(() => {
          open = true
          Deferred.doneUnsafe(firstAttempt, Exit.void)
        })
        .catch(lose)
      // A plain callback: an interrupted fiber would never run an effect here.
      return Effect.sync(() => lose(new Error("closed")))
    })

    const retried = session.pipe(
      Effect.tapError((cause) =>
        Effect.logWarning(`pgfleet: could not open the listen connection to ${writer.host}, retrying`).pipe(
          Effect.annotateLogs({ host: writer.host, error: Failure.describe(cause) })
        )
      ),
      Effect.retry(
        Schedule.exponential(settings.retryBase).pipe(
          Schedule.jittered,
          Schedule.modifyDelay((m) => Effect.succeed(Duration.min(m.duration, settings.retryMaxDelay)))
        )
      )
    )
    yield* retried.pipe(
      Effect.flatMap((cause) =>
        Effect.logWarning(`pgfleet: the listen connection was lost, reconnecting to ${writer.host}`).pipe(
          Effect.annotateLogs({
            host: writer.host,
            channels: [...channels.keys()].join(","),
            error: Failure.describe(cause)
          })
        )
      ),
      Effect.forever,
      Effect.forkScoped
    )
    yield* Deferred.await(firstAttempt)

    /** Adds a subscriber; `ready` is done once the connection listens on the channel. Returns its removal. */
    const subscribe = (
      name: string,
      deliver: (n: PgConnection.Notification) => void,
      ready: Deferred.Deferred<void>
    ) => {
      let channel = channels.get(name)
      if (channel === undefined) {
        channels.set(name, channel = { subscribers: new Set(), waiting: new Set(), listenedOn: undefined })
        if (current !== undefined) listenOn(current, name, channel).catch(current.lose)
      }
      const { listenedOn, subscribers, waiting } = channel
      subscribers.add(deliver)
      if (current !== undefined && listenedOn === current.client) Deferred.doneUnsafe(ready, Exit.void)
      else waiting.add(ready)
      return () => {
        subscribers.delete(deliver)
        waiting.delete(ready)
        if (subscribers.size > 0) return
        channels.delete(name)
        current?.client.query(`UNLISTEN ${pg.escapeIdentifier(name)}`).catch(() => {})
      }
    }

    return {
      listen: (name) =>
        Effect.gen(function*() {
          const queue = yield* Queue.unbounded<PgConnection.Notification, SqlError>()
          const ready = Deferred.makeUnsafe<void>()
          yield* Effect.acquireRelease(
            Effect.sync(() => subscribe(name, (n) => void Queue.offerUnsafe(queue, n), ready)),
            (unsubscribe) => Effect.andThen(Effect.sync(unsubscribe), Queue.shutdown(queue))
          )
          yield* Deferred.await(ready)
          return queue
        })
    } satisfies Listener
  })
