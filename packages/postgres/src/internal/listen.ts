import { SqlError } from "@effect/sql/SqlError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import pg from "pg"
import type { HostPool } from "../HostPool.js"
import type { PostgresSettings } from "../PostgresConfig.js"
import { describe } from "./failures.js"
import { destroySocket } from "./pgOptions.js"

const destroy = (client: pg.Client) => {
  client.removeAllListeners("notification")
  destroySocket(client)
}

/**
 * The payloads sent to `channel`, from a connection of its own to `writer`.
 * When that connection breaks (a restart, a failover), it reconnects with
 * the retry backoff, capped at `DB_CONNECT_RETRY_MAX_DELAY_MS`, and issues
 * `LISTEN` again. Notifications sent while it was down are lost, as they are
 * in PostgreSQL itself.
 */
export const listen = (
  writer: HostPool,
  settings: PostgresSettings,
  channel: string
): Stream.Stream<string, SqlError> =>
  Stream.asyncScoped<string, SqlError>((emit) => {
    /** One session: connect, LISTEN, deliver until the connection breaks, then fail so the schedule reconnects. */
    const session = Effect.async<never, unknown>((resume) => {
      const client = writer.newClient()
      const broke = (cause: unknown) => {
        destroy(client)
        resume(Effect.fail(cause))
      }
      client.on("error", broke)
      client.on("end", () => broke(new Error("the listen connection ended")))
      client.on("notification", (message) => {
        if (message.channel === channel && message.payload !== undefined) void emit.single(message.payload)
      })
      client.connect()
        .then(() => client.query(`LISTEN ${pg.escapeIdentifier(channel)}`))
        .catch(broke)
      return Effect.sync(() => destroy(client))
    })
    const reconnect = Schedule.exponential(settings.retryBase).pipe(
      Schedule.jittered,
      Schedule.modifyDelay((d) => Duration.min(d, settings.retryMaxDelay)),
      Schedule.tapInput((cause) =>
        Effect.logWarning(`pgfleet: listen on ${channel} lost its connection to ${writer.host}, reconnecting`).pipe(
          Effect.annotateLogs({ host: writer.host, channel, error: describe(cause) })
        )
      )
    )
    return Effect.forkScoped(Effect.retry(session, reconnect))
  }).pipe(Stream.mapError((cause) => new SqlError({ cause, message: `listen on ${channel} failed` })))
