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
    connectionTimeoutMillis: Duration.toMillis(settings.connectTimeout),
    ...(statementTimeout > 0 && settings.statementTimeoutMode === "startup"
      ? { statement_timeout: statementTimeout }
      : {})
  }
}
