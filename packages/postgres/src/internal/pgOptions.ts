import * as Duration from "effect/Duration"
import * as Redacted from "effect/Redacted"
import type pg from "pg"
import type { HostAddress, PostgresSettings } from "../PostgresConfig.js"

const ssl = (settings: PostgresSettings): pg.ClientConfig["ssl"] => {
  switch (settings.ssl) {
    case "disable":
      return false
    case "require":
      return { rejectUnauthorized: false }
    case "verify-full":
      return settings.sslCa === undefined
        ? { rejectUnauthorized: true }
        : { rejectUnauthorized: true, ca: settings.sslCa }
  }
}

/** Connection options for one host. Host, user and password stay separate fields, so no character needs escaping. */
export const clientConfig = (settings: PostgresSettings, address: HostAddress): pg.ClientConfig => {
  const statementTimeout = Duration.toMillis(settings.statementTimeout)
  return {
    host: address.host,
    port: address.port,
    user: settings.username,
    password: Redacted.value(settings.password),
    database: settings.database,
    application_name: settings.applicationName,
    ssl: ssl(settings),
    keepAlive: true,
    keepAliveInitialDelayMillis: Duration.toMillis(settings.keepAliveIdle),
    connectionTimeoutMillis: Duration.toMillis(settings.connectTimeout),
    ...(settings.types === undefined ? {} : { types: settings.types }),
    ...(statementTimeout > 0 && settings.statementTimeoutMode === "startup"
      ? { statement_timeout: statementTimeout }
      : {})
  }
}

const percentEncoded = (value: string) =>
  Array.from(new TextEncoder().encode(value), (byte) => `%${byte.toString(16).toUpperCase().padStart(2, "0")}`).join("")

/**
 * A `postgresql://` URL for one host in which every byte of user, password
 * and database is percent-encoded, so any character survives any URL parser.
 */
export const connectionUrl = (settings: PostgresSettings, address: HostAddress): Redacted.Redacted => {
  const host = address.host.includes(":") ? `[${address.host}]` : address.host
  const query = new URLSearchParams({ application_name: settings.applicationName })
  if (settings.ssl !== "disable") query.set("sslmode", settings.ssl)
  return Redacted.make(
    `postgresql://${percentEncoded(settings.username)}:${
      percentEncoded(Redacted.value(settings.password))
    }@${host}:${address.port}/${percentEncoded(settings.database)}?${query}`
  )
}

/**
 * Closes a client's socket without the goodbye `end()` waits for, which a
 * dead or blackholed host never answers. Its owner sees the error.
 */
export const destroySocket = (client: pg.ClientBase | undefined): void => {
  ;(client as unknown as { connection?: { stream?: { destroy(): void } } } | undefined)?.connection?.stream?.destroy()
}
