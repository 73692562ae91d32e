/**
 * Settings for a pgfleet fleet, read from `DB_*` variables or given in code.
 * Every value is validated before anything connects; a bad value fails with a
 * `ConfigError` that names its variable and says what was expected.
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as fs from "node:fs"

/**
 * @since 0.1.0
 * @category models
 */
export interface HostAddress {
  readonly host: string
  readonly port: number
}

/**
 * @since 0.1.0
 * @category models
 */
export type ReaderStrategyName = "random" | "round-robin" | "least-connections"

/**
 * `disable`: plain TCP. `require`: TLS without certificate checks.
 * `verify-full`: TLS, the certificate must chain to `DB_SSL_CA` (or the
 * system roots) and match the host name.
 *
 * @since 0.1.0
 * @category models
 */
export type SslMode = "disable" | "require" | "verify-full"

/**
 * `startup` sends `statement_timeout` in the connection's startup packet.
 * `set` runs `SET statement_timeout` on each new connection instead, for
 * PgBouncer, which rejects unknown startup parameters.
 *
 * @since 0.1.0
 * @category models
 */
export type StatementTimeoutMode = "startup" | "set"

/**
 * Validated settings. Build them with {@link make} or read them with {@link fromEnv}.
 *
 * @since 0.1.0
 * @category models
 */
export interface PostgresSettings {
  readonly writer: HostAddress
  readonly readers: ReadonlyArray<HostAddress>
  readonly database: string
  readonly username: string
  readonly password: Redacted.Redacted
  readonly applicationName: string
  readonly minPoolSize: number
  readonly maxPoolSize: number
  readonly poolTimeout: Duration.Duration
  readonly maxIdleTime: Duration.Duration
  readonly connectTimeout: Duration.Duration
  /** Zero means no timeout. */
  readonly statementTimeout: Duration.Duration
  readonly statementTimeoutMode: StatementTimeoutMode
  readonly ssl: SslMode
  /** PEM certificate authorities to trust for `verify-full`, read from `DB_SSL_CA_FILE`. */
  readonly sslCa: string | undefined
  readonly readerStrategy: ReaderStrategyName
  readonly readerFallback: "writer" | "fail"
  readonly retryBase: Duration.Duration
  readonly retryMaxDelay: Duration.Duration
  readonly retryMaxAttempts: number
  readonly healthCheckInterval: Duration.Duration
  readonly healthCheckTimeout: Duration.Duration
  readonly healthFailureThreshold: number
  /** Replicas whose replay delay exceeds this are not routed to. Zero disables the check. */
  readonly maxReplicaLag: Duration.Duration
  readonly closeGrace: Duration.Duration
}

/**
 * What a program may give in code: the connection essentials, and any
 * setting it wants to change from the defaults.
 *
 * @since 0.1.0
 * @category models
 */
export interface PostgresSettingsInput {
  readonly writerHost: string
  readonly username: string
  readonly password: Redacted.Redacted | string
  /** Each `host` or `host:port`; a bare host uses {@link PostgresSettingsInput.port}. */
  readonly readerHosts?: ReadonlyArray<string> | undefined
  readonly port?: number | undefined
  readonly database?: string | undefined
  readonly applicationName?: string | undefined
  readonly minPoolSize?: number | undefined
  readonly maxPoolSize?: number | undefined
  readonly poolTimeout?: Duration.DurationInput | undefined
  readonly maxIdleTime?: Duration.DurationInput | undefined
  readonly connectTimeout?: Duration.DurationInput | undefined
  readonly statementTimeout?: Duration.DurationInput | undefined
  readonly statementTimeoutMode?: StatementTimeoutMode | undefined
  readonly ssl?: SslMode | undefined
  readonly sslCaFile?: string | undefined
  readonly readerStrategy?: ReaderStrategyName | undefined
  readonly readerFallback?: "writer" | "fail" | undefined
  readonly retryBase?: Duration.DurationInput | undefined
  readonly retryMaxDelay?: Duration.DurationInput | undefined
  readonly retryMaxAttempts?: number | undefined
  readonly healthCheckInterval?: Duration.DurationInput | undefined
  readonly healthCheckTimeout?: Duration.DurationInput | undefined
  readonly healthFailureThreshold?: number | undefined
  readonly maxReplicaLag?: Duration.DurationInput | undefined
  readonly closeGrace?: Duration.DurationInput | undefined
}

/**
 * The environment variable behind each setting, used to name it in errors.
 *
 * @since 0.1.0
 * @category constants
 */
export const variables = {
  writerHost: "DB_WRITER_HOST",
  readerHosts: "DB_READER_HOSTS",
  port: "DB_PORT",
  database: "DB_NAME",
  username: "DB_USERNAME",
  password: "DB_PASSWORD",
  applicationName: "DB_APPLICATION_NAME",
  minPoolSize: "DB_MIN_POOL_SIZE",
  maxPoolSize: "DB_MAX_POOL_SIZE",
  poolTimeout: "DB_POOL_TIMEOUT",
  maxIdleTime: "DB_POOL_MAX_IDLE_TIME_SECONDS",
  connectTimeout: "DB_CONNECT_TIMEOUT_MS",
  statementTimeout: "DB_STATEMENT_TIMEOUT_MS",
  statementTimeoutMode: "DB_STATEMENT_TIMEOUT_MODE",
  ssl: "DB_SSL_MODE",
  sslCaFile: "DB_SSL_CA_FILE",
  readerStrategy: "DB_READER_STRATEGY",
  readerFallback: "DB_READER_FALLBACK",
  retryBase: "DB_CONNECT_RETRY_BASE_MS",
  retryMaxDelay: "DB_CONNECT_RETRY_MAX_DELAY_MS",
  retryMaxAttempts: "DB_CONNECT_RETRY_MAX_ATTEMPTS",
  healthCheckInterval: "DB_HEALTH_CHECK_INTERVAL_MS",
  healthCheckTimeout: "DB_HEALTH_CHECK_TIMEOUT_MS",
  healthFailureThreshold: "DB_HEALTH_FAILURE_THRESHOLD",
  maxReplicaLag: "DB_READER_MAX_LAG_MS",
  closeGrace: "DB_POOL_CLOSE_GRACE_MS"
} as const satisfies Record<keyof PostgresSettingsInput, string>

/**
 * The value of every optional setting when neither code nor environment gives one.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaults = {
  readerHosts: [] as ReadonlyArray<string>,
  port: 5432,
  database: "postgres",
  applicationName: "pgfleet",
  minPoolSize: 2,
  maxPoolSize: 10,
  poolTimeout: Duration.seconds(10),
  maxIdleTime: Duration.seconds(300),
  connectTimeout: Duration.millis(5000),
  statementTimeout: Duration.zero,
  statementTimeoutMode: "startup" as StatementTimeoutMode,
  ssl: "disable" as SslMode,
  readerStrategy: "random" as ReaderStrategyName,
  readerFallback: "writer" as "writer" | "fail",
  retryBase: Duration.millis(100),
  retryMaxDelay: Duration.millis(5000),
  retryMaxAttempts: 10,
  healthCheckInterval: Duration.millis(1000),
  healthCheckTimeout: Duration.millis(1000),
  healthFailureThreshold: 2,
  maxReplicaLag: Duration.zero,
  closeGrace: Duration.millis(5000)
} as const

type Issue = readonly [setting: keyof PostgresSettingsInput, expected: string]

const invalid = (issues: ReadonlyArray<Issue>): ConfigError.ConfigError =>
  issues
    .map(([setting, expected]) => ConfigError.InvalidData([variables[setting]], expected))
    .reduce((acc, e) => ConfigError.And(acc, e))

const isPositiveInt = (n: number) => Number.isInteger(n) && n > 0

/** Parses `host`, `host:port` or `[v6]:port`. */
const parseHost = (entry: string, defaultPort: number): HostAddress | string => {
  const m = /^(?:\[([^\]]+)\]|([^:\s[\]]+))(?::(\d+))?$/.exec(entry)
  if (m === null) return `"${entry}" is not host or host:port`
  const port = m[3] === undefined ? defaultPort : Number(m[3])
  if (!isPositiveInt(port) || port > 65535) return `"${entry}" has port ${m[3]}, expected 1-65535`
  return { host: (m[1] ?? m[2])!, port }
}

const readCa = (file: string | undefined, issues: Array<Issue>): string | undefined => {
  if (file === undefined) return undefined
  try {
    return fs.readFileSync(file, "utf8")
  } catch (e) {
    issues.push(["sslCaFile", `expected a readable PEM file, could not read ${file}: ${(e as Error).message}`])
    return undefined
  }
}

/**
 * Fills in defaults and validates. Fails with every problem found, each
 * naming its `DB_*` variable.
 *
 * @example
 * ```ts
 * import { Effect, Redacted } from "effect"
 * import { PostgresConfig } from "@pgfleet/postgres"
 *
 * const settings = PostgresConfig.make({
 *   writerHost: "db-primary.internal",
 *   readerHosts: ["db-replica-1.internal", "db-replica-2.internal:6432"],
 *   username: "app",
 *   password: Redacted.make("p@ss:w/rd#?"),
 *   database: "app",
 *   readerStrategy: "least-connections"
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (input: PostgresSettingsInput): Effect.Effect<PostgresSettings, ConfigError.ConfigError> =>
  Effect.suspend(() => {
    const issues: Array<Issue> = []
    const int = (key: "port" | "minPoolSize" | "maxPoolSize" | "retryMaxAttempts" | "healthFailureThreshold") => {
      const value = input[key] ?? defaults[key]
      if (!isPositiveInt(value)) issues.push([key, `expected a whole number greater than 0, got ${value}`])
      return value
    }
    const duration = (key: keyof typeof defaults & keyof PostgresSettingsInput, allowZero: boolean) => {
      const raw = input[key] ?? defaults[key]
      const decoded = Duration.decodeUnknown(raw)
      if (decoded._tag === "None" || !Duration.isFinite(decoded.value)) {
        issues.push([key, `expected a finite duration, got ${String(raw)}`])
        return Duration.zero
      }
      if (!allowZero && Duration.toMillis(decoded.value) <= 0) {
        issues.push([key, `expected a duration greater than 0, got ${Duration.format(decoded.value)}`])
      }
      return decoded.value
    }
    const oneOf = <K extends "statementTimeoutMode" | "ssl" | "readerStrategy" | "readerFallback">(
      key: K,
      allowed: ReadonlyArray<NonNullable<PostgresSettingsInput[K]>>
    ) => {
      const value = input[key] ?? defaults[key]
      if (!allowed.includes(value as never)) issues.push([key, `expected one of ${allowed.join(", ")}, got "${value}"`])
      return value as NonNullable<PostgresSettingsInput[K]>
    }

    const port = int("port")
    if (port > 65535) issues.push(["port", `expected a port from 1 to 65535, got ${port}`])
    const writerHost = input.writerHost.trim()
    if (writerHost === "") issues.push(["writerHost", "expected a host name or address, got an empty value"])
    const writer = { host: writerHost, port }

    const readers: Array<HostAddress> = []
    for (const raw of input.readerHosts ?? defaults.readerHosts) {
      const parsed = parseHost(raw.trim(), port)
      if (typeof parsed === "string") {
        issues.push(["readerHosts", `malformed entry: ${parsed}`])
      } else if (readers.some((r) => r.host === parsed.host && r.port === parsed.port)) {
        issues.push(["readerHosts", `duplicate entry: ${parsed.host}:${parsed.port}`])
      } else {
        readers.push(parsed)
      }
    }

    const minPoolSize = int("minPoolSize")
    const maxPoolSize = int("maxPoolSize")
    if (minPoolSize > maxPoolSize) {
      issues.push(["minPoolSize", `expected at most DB_MAX_POOL_SIZE (${maxPoolSize}), got ${minPoolSize}`])
    }
    const username = input.username
    if (username === "") issues.push(["username", "expected a user name, got an empty value"])

    const settings: PostgresSettings = {
      writer,
      readers,
      database: input.database ?? defaults.database,
      username,
      password: typeof input.password === "string" ? Redacted.make(input.password) : input.password,
      applicationName: input.applicationName ?? defaults.applicationName,
      minPoolSize,
      maxPoolSize,
      poolTimeout: duration("poolTimeout", false),
      maxIdleTime: duration("maxIdleTime", false),
      connectTimeout: duration("connectTimeout", false),
      statementTimeout: duration("statementTimeout", true),
      statementTimeoutMode: oneOf("statementTimeoutMode", ["startup", "set"]),
      ssl: oneOf("ssl", ["disable", "require", "verify-full"]),
      sslCa: readCa(input.sslCaFile, issues),
      readerStrategy: oneOf("readerStrategy", ["random", "round-robin", "least-connections"]),
      readerFallback: oneOf("readerFallback", ["writer", "fail"]),
      retryBase: duration("retryBase", false),
      retryMaxDelay: duration("retryMaxDelay", false),
      retryMaxAttempts: int("retryMaxAttempts"),
      healthCheckInterval: duration("healthCheckInterval", false),
      healthCheckTimeout: duration("healthCheckTimeout", false),
      healthFailureThreshold: int("healthFailureThreshold"),
      maxReplicaLag: duration("maxReplicaLag", true),
      closeGrace: duration("closeGrace", true)
    }
    return issues.length === 0 ? Effect.succeed(settings) : Effect.fail(invalid(issues))
  })

const described = <A>(config: Config.Config<A>, description: string) => Config.withDescription(config, description)
const optionalInt = (name: string, description: string) =>
  described(Config.option(Config.integer(name)), description).pipe(
    Config.map((o) => o._tag === "Some" ? o.value : undefined)
  )
const optionalMillis = (name: string, description: string) =>
  optionalInt(name, description).pipe(Config.map((n) => n === undefined ? undefined : Duration.millis(n)))
const optionalSeconds = (name: string, description: string) =>
  optionalInt(name, description).pipe(Config.map((n) => n === undefined ? undefined : Duration.seconds(n)))
const optionalString = (name: string, description: string) =>
  described(Config.option(Config.string(name)), description).pipe(
    Config.map((o) => o._tag === "Some" ? o.value : undefined)
  )
const optionalLiteral = <const L extends ReadonlyArray<string>>(name: string, literals: L, description: string) =>
  described(Config.option(Config.literal(...literals)(name)), description).pipe(
    Config.map((o) => o._tag === "Some" ? o.value as L[number] : undefined)
  )

/**
 * The settings as the `DB_*` variables give them, before defaults and
 * validation. {@link fromEnv} is this followed by {@link make}.
 *
 * @since 0.1.0
 * @category config
 */
export const inputFromEnv: Config.Config<PostgresSettingsInput> = Config.all({
  writerHost: described(Config.string(variables.writerHost), "Host name or address of the primary."),
  readerHosts: described(Config.string(variables.readerHosts), "Comma-separated replicas, each host or host:port.")
    .pipe(
      Config.withDefault(""),
      Config.map((s) => s.trim() === "" ? [] : s.split(","))
    ),
  port: optionalInt(variables.port, "Port of every host that does not name its own (default 5432)."),
  database: optionalString(variables.database, "Database name (default postgres)."),
  username: described(Config.string(variables.username), "User for every host."),
  password: described(Config.redacted(variables.password), "Password; any character is allowed. Never logged."),
  applicationName: optionalString(variables.applicationName, "application_name of every connection (default pgfleet)."),
  minPoolSize: optionalInt(variables.minPoolSize, "Connections each pool opens and warms at start (default 2)."),
  maxPoolSize: optionalInt(variables.maxPoolSize, "Most connections each pool holds (default 10)."),
  poolTimeout: optionalSeconds(variables.poolTimeout, "Seconds to wait for a free pooled connection (default 10)."),
  maxIdleTime: optionalSeconds(variables.maxIdleTime, "Seconds an idle connection is kept (default 300)."),
  connectTimeout: optionalMillis(variables.connectTimeout, "Milliseconds to open one connection (default 5000)."),
  statementTimeout: optionalMillis(
    variables.statementTimeout,
    "Server-side statement_timeout in ms; 0 is none (default)."
  ),
  statementTimeoutMode: optionalLiteral(
    variables.statementTimeoutMode,
    ["startup", "set"],
    "How statement_timeout is sent: startup packet, or SET for PgBouncer (default startup)."
  ),
  ssl: optionalLiteral(variables.ssl, ["disable", "require", "verify-full"], "TLS mode (default disable)."),
  sslCaFile: optionalString(variables.sslCaFile, "PEM file of trusted certificate authorities for verify-full."),
  readerStrategy: optionalLiteral(
    variables.readerStrategy,
    ["random", "round-robin", "least-connections"],
    "How a replica is picked for each read (default random)."
  ),
  readerFallback: optionalLiteral(
    variables.readerFallback,
    ["writer", "fail"],
    "Where reads go when no replica is healthy (default writer)."
  ),
  retryBase: optionalMillis(variables.retryBase, "First retry delay when a pool cannot connect (default 100)."),
  retryMaxDelay: optionalMillis(variables.retryMaxDelay, "Cap on one retry delay in ms (default 5000)."),
  retryMaxAttempts: optionalInt(variables.retryMaxAttempts, "Connection attempts before a pool gives up (default 10)."),
  healthCheckInterval: optionalMillis(
    variables.healthCheckInterval,
    "Milliseconds between health probes (default 1000)."
  ),
  healthCheckTimeout: optionalMillis(variables.healthCheckTimeout, "Milliseconds a probe may take (default 1000)."),
  healthFailureThreshold: optionalInt(
    variables.healthFailureThreshold,
    "Failed probes in a row before a host is down (default 2)."
  ),
  maxReplicaLag: optionalMillis(variables.maxReplicaLag, "Skip replicas whose replay delay exceeds this; 0 is off."),
  closeGrace: optionalMillis(
    variables.closeGrace,
    "Milliseconds checked-out connections get at shutdown (default 5000)."
  )
})

/**
 * The validated settings from the `DB_*` environment variables (or whatever
 * `ConfigProvider` is installed).
 *
 * @example
 * ```ts
 * import { ConfigProvider, Effect } from "effect"
 * import { PostgresConfig } from "@pgfleet/postgres"
 *
 * const settings = Effect.withConfigProvider(
 *   PostgresConfig.fromEnv,
 *   ConfigProvider.fromMap(new Map([["DB_WRITER_HOST", "localhost"], ["DB_USERNAME", "app"], ["DB_PASSWORD", "x"]]))
 * )
 * ```
 *
 * @since 0.1.0
 * @category config
 */
export const fromEnv: Config.Config<PostgresSettings> = Config.mapOrFail(
  inputFromEnv,
  (input) => Effect.runSync(Effect.either(make(input)))
)

/**
 * `host:port`, the name pgfleet uses for a host in errors, logs, spans and metrics.
 *
 * @since 0.1.0
 * @category utils
 */
export const hostLabel = (address: HostAddress): string =>
  address.host.includes(":") ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`

/**
 * The validated settings as a service.
 *
 * @since 0.1.0
 * @category tags
 */
export class PostgresConfig
  extends Context.Tag("@pgfleet/postgres/PostgresConfig")<PostgresConfig, PostgresSettings>()
{}

/**
 * Settings given in code.
 *
 * @example
 * ```ts
 * import { PostgresConfig } from "@pgfleet/postgres"
 *
 * const SettingsLive = PostgresConfig.layer({ writerHost: "localhost", username: "app", password: "secret" })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (input: PostgresSettingsInput): Layer.Layer<PostgresConfig, ConfigError.ConfigError> =>
  Layer.effect(PostgresConfig, make(input))

/**
 * Settings from any `Config`, e.g. {@link fromEnv} or a `Config` of your own.
 *
 * @example
 * ```ts
 * import { PostgresConfig } from "@pgfleet/postgres"
 *
 * const SettingsLive = PostgresConfig.layerConfig(PostgresConfig.fromEnv)
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  config: Config.Config<PostgresSettings>
): Layer.Layer<PostgresConfig, ConfigError.ConfigError> => Layer.effect(PostgresConfig, config)
