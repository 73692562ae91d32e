/**
 * node-postgres connection options for one host. Host, user and password stay
 * separate fields, so no character of a password needs escaping.
 *
 * @since 0.2.0
 */
import type * as tls from "node:tls"
import pg from "pg"
import * as Credentials from "./Credentials.js"
import type { HostAddress, Settings } from "./Settings.js"
import { settings as table } from "./Settings.js"

/**
 * What every connection to every host shares; {@link fromSettings} builds it
 * from validated settings.
 *
 * @since 0.2.0
 * @category models
 */
export interface ConnectionOptions {
  readonly username: string
  /**
   * The password now: a function, so it is read when asked and never sits in
   * a printable object. With {@link ConnectionOptions.credentials}, the one
   * last obtained.
   */
  readonly password: () => string
  /**
   * A password that changes (`DB_PASSWORD_FILE`, `passwordProvider`): new
   * connections ask it when they log in. Absent for a fixed password.
   */
  readonly credentials?: Credentials.Source | undefined
  readonly database: string
  readonly applicationName: string
  readonly ssl: "disable" | "require" | "verify-full"
  /** PEM certificate authorities to trust for `verify-full`. */
  readonly sslCa: string | undefined
  readonly keepAliveIdleMs: number
  readonly connectTimeoutMs: number
  /** `0` is none, except under `verify`, where it is the value the server must show. */
  readonly statementTimeoutMs: number
  readonly statementTimeoutMode: Settings["statementTimeoutMode"]
  readonly types: pg.CustomTypesConfig | undefined
}

/**
 * What every connection of validated settings shares.
 *
 * @example
 * ```ts
 * import { Connection, Settings } from "@pgfleet/core"
 *
 * const result = Settings.validate({ writerHosts: ["db"], username: "app", password: "secret" })
 * if (result._tag === "Valid") {
 *   const { settings } = result
 *   const config = Connection.clientConfig(Connection.fromSettings(settings), settings.writer)
 * }
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const fromSettings = (settings: Settings): ConnectionOptions => {
  const password = settings.password
  const credentials = settings.passwordFile !== undefined
    ? Credentials.fromFile(settings.passwordFile, settings.passwordCacheTime)
    : settings.passwordProvider !== undefined
    ? Credentials.fromProvider(settings.passwordProvider, settings.passwordCacheTime)
    : undefined
  return {
    username: settings.username,
    password: credentials === undefined ? () => password!.value() : () => credentials.latest() ?? "",
    credentials,
    database: settings.database,
    applicationName: settings.applicationName,
    ssl: settings.ssl,
    sslCa: settings.sslCa,
    keepAliveIdleMs: settings.keepAliveIdle,
    connectTimeoutMs: settings.connectTimeout,
    statementTimeoutMs: settings.statementTimeout,
    statementTimeoutMode: settings.statementTimeoutMode,
    types: settings.types
  }
}

/**
 * The TLS options `DB_SSL_MODE` asks for, or `false` for none: node-postgres
 * and @effect/sql-pg 4 both take Node's `tls.connect` options.
 *
 * @example
 * ```ts
 * import { Connection, Settings } from "@pgfleet/core"
 *
 * const result = Settings.validate({ writerHosts: ["db"], username: "app", password: "x", ssl: "require" })
 * if (result._tag === "Valid") Connection.tlsOptions(Connection.fromSettings(result.settings)) // { rejectUnauthorized: false }
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const tlsOptions = (options: ConnectionOptions): false | tls.ConnectionOptions => {
  switch (options.ssl) {
    case "disable":
      return false
    case "require":
      return { rejectUnauthorized: false }
    case "verify-full":
      return options.sslCa === undefined
        ? { rejectUnauthorized: true }
        : { rejectUnauthorized: true, ca: options.sslCa }
  }
}

/**
 * `pg.Client` options for one host.
 *
 * @example
 * ```ts
 * import { Connection } from "@pgfleet/core"
 * import pg from "pg"
 *
 * const options: Connection.ConnectionOptions = {
 *   username: "app",
 *   password: () => "p@ss:w/rd",
 *   database: "app",
 *   applicationName: "billing",
 *   ssl: "disable",
 *   sslCa: undefined,
 *   keepAliveIdleMs: 30_000,
 *   connectTimeoutMs: 5_000,
 *   statementTimeoutMs: 0,
 *   statementTimeoutMode: "startup",
 *   types: undefined
 * }
 * const client = new pg.Client(Connection.clientConfig(options, { host: "db-replica-1", port: 5432 }))
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const clientConfig = (options: ConnectionOptions, address: HostAddress): pg.ClientConfig => ({
  host: address.host,
  port: address.port,
  user: options.username,
  // A changing password is asked for by each new connection as it logs in; pg takes a function for that.
  password: options.credentials === undefined ? options.password() : options.credentials.password,
  database: options.database,
  application_name: options.applicationName,
  ssl: tlsOptions(options),
  keepAlive: true,
  keepAliveInitialDelayMillis: options.keepAliveIdleMs,
  connectionTimeoutMillis: options.connectTimeoutMs,
  ...(options.types === undefined ? {} : { types: options.types }),
  ...(options.statementTimeoutMs > 0 && options.statementTimeoutMode === "startup"
    ? { statement_timeout: options.statementTimeoutMs }
    : {})
})

/**
 * Asks a connection which `statement_timeout` it runs under: `ms` in
 * milliseconds (from `pg_settings`, exact), `shown` as `SHOW` prints it.
 * One statement, so it holds behind a transaction-pooling PgBouncer.
 *
 * @since 0.2.0
 * @category constants
 */
export const STATEMENT_TIMEOUT_SQL = `SELECT setting::int AS ms, current_setting('statement_timeout') AS shown
  FROM pg_settings WHERE name = 'statement_timeout'`

/**
 * The row {@link STATEMENT_TIMEOUT_SQL} answers.
 *
 * @since 0.2.0
 * @category models
 */
export interface StatementTimeoutRow {
  readonly ms: number
  readonly shown: string
}

/**
 * Under `DB_STATEMENT_TIMEOUT_MODE=verify`, what is wrong with the
 * `statement_timeout` a connection to `host` showed: a message naming the
 * host, the expected and the seen value, or `undefined` when they agree (and
 * always in the other modes, where pgfleet sets the value itself).
 *
 * @example
 * ```ts
 * import { Connection } from "@pgfleet/core"
 *
 * const options: Connection.ConnectionOptions = {
 *   username: "app",
 *   password: () => "secret",
 *   database: "app",
 *   applicationName: "billing",
 *   ssl: "disable",
 *   sslCa: undefined,
 *   keepAliveIdleMs: 30_000,
 *   connectTimeoutMs: 5_000,
 *   statementTimeoutMs: 5_000,
 *   statementTimeoutMode: "verify",
 *   types: undefined
 * }
 * Connection.statementTimeoutMismatch(options, "bouncer-1:6432", { ms: 0, shown: "0" })
 * // bouncer-1:6432 runs statements under statement_timeout 0 (0 ms), expected 5000 ms ...
 * ```
 *
 * @since 0.2.0
 * @category utils
 */
export const statementTimeoutMismatch = (
  options: ConnectionOptions,
  host: string,
  seen: StatementTimeoutRow
): string | undefined => {
  if (options.statementTimeoutMode !== "verify" || seen.ms === options.statementTimeoutMs) return undefined
  const expected = options.statementTimeoutMs
  const role = options.username.replace(/"/g, "\"\"")
  return `${host} runs statements under statement_timeout ${seen.shown} (${seen.ms} ms), expected ${expected} ms ` +
    `(${table.statementTimeout.variable} with ${table.statementTimeoutMode.variable}=verify): set it on the ` +
    `server, e.g. ALTER ROLE "${role}" SET statement_timeout = ${expected}, then let new server connections ` +
    `open (a PgBouncer keeps its old ones until RECONNECT on its console)`
}

const percentEncoded = (value: string) =>
  Array.from(new TextEncoder().encode(value), (byte) => `%${byte.toString(16).toUpperCase().padStart(2, "0")}`).join("")

/**
 * A `postgresql://` URL for one host in which every byte of user, password
 * and database is percent-encoded, so any character survives any URL parser.
 * It holds the password: keep it secret.
 *
 * @example
 * ```ts
 * import { Connection } from "@pgfleet/core"
 *
 * const options: Connection.ConnectionOptions = {
 *   username: "app",
 *   password: () => "p@ss:w/rd",
 *   database: "app",
 *   applicationName: "billing",
 *   ssl: "disable",
 *   sslCa: undefined,
 *   keepAliveIdleMs: 30_000,
 *   connectTimeoutMs: 5_000,
 *   statementTimeoutMs: 0,
 *   statementTimeoutMode: "startup",
 *   types: undefined
 * }
 * const url = Connection.connectionUrl(options, { host: "db-primary", port: 5432 })
 * // postgresql://%61%70%70:%70%40...@db-primary:5432/%61%70%70?application_name=billing
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const connectionUrl = (options: ConnectionOptions, address: HostAddress): string => {
  const host = address.host.includes(":") ? `[${address.host}]` : address.host
  const query = new URLSearchParams({ application_name: options.applicationName })
  if (options.ssl !== "disable") query.set("sslmode", options.ssl)
  return `postgresql://${percentEncoded(options.username)}:${
    percentEncoded(options.password())
  }@${host}:${address.port}/${percentEncoded(options.database)}?${query}`
}

/**
 * Closes a client's socket without the goodbye `end()` waits for, which a
 * dead or blackholed host never answers. Its owner sees the error.
 *
 * @since 0.2.0
 * @category utils
 */
export const destroySocket = (client: pg.ClientBase | undefined): void => {
  ;(client as unknown as { connection?: { stream?: { destroy(): void } } } | undefined)?.connection?.stream?.destroy()
}

interface CancelConnection {
  connect(port: number | string, host?: string): void
  on(event: "connect" | "error", listener: (...args: Array<unknown>) => void): void
  cancel(processID: number, secretKey: number): void
  end(): void
  readonly stream: { destroy(): void }
}

/**
 * PostgreSQL's cancel request for `running`, on a connection of its own (what
 * `pg.Client#cancel` does, without its deprecated `activeQuery` check). The
 * server closes that connection once it has read the request; ours is
 * dropped after the connect timeout in any case, so a host that never
 * answers keeps no socket of ours.
 *
 * @since 0.2.0
 * @category utils
 */
export const sendCancel = (options: pg.PoolConfig, running: pg.ClientBase): void => {
  const { processID, secretKey } = running as unknown as { processID?: number; secretKey?: number }
  if (processID === undefined || secretKey === undefined) return
  const connection = (new pg.Client(options) as unknown as { connection: CancelConnection }).connection
  connection.on("error", () => {})
  connection.on("connect", () => connection.cancel(processID, secretKey))
  setTimeout(() => connection.stream.destroy(), options.connectionTimeoutMillis || 5000).unref()
  const host = options.host ?? "localhost"
  const port = options.port ?? 5432
  if (host.startsWith("/")) connection.connect(`${host}/.s.PGSQL.${port}`)
  else connection.connect(port, host)
}
