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
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import type pg from "pg"

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
export type ReaderStrategyName = OutOf<Settings["readerStrategy"]>

/**
 * `disable`: plain TCP. `require`: TLS without certificate checks.
 * `verify-full`: TLS, the certificate must chain to `DB_SSL_CA_FILE` (or the
 * system roots) and match the host name.
 *
 * @since 0.1.0
 * @category models
 */
export type SslMode = OutOf<Settings["ssl"]>

/**
 * `startup` sends `statement_timeout` in the connection's startup packet.
 * `set` runs `SET statement_timeout` on each new connection instead, for
 * PgBouncer, which rejects unknown startup parameters.
 *
 * @since 0.1.0
 * @category models
 */
export type StatementTimeoutMode = OutOf<Settings["statementTimeoutMode"]>

type Check<Out> = Out | Invalid

/** A value that failed its check, and what was expected. */
class Invalid {
  constructor(readonly expected: string) {}
}

/**
 * One setting, declared once: its variable, default, parser, check and
 * description. The `Config` reader, the code-side input type, the
 * validation and the README's table all derive from {@link settings}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Setting<In, Out, Required extends boolean = boolean> {
  /** `undefined` for settings that only code can give (functions, parsers). */
  readonly variable: string | undefined
  readonly required: Required
  readonly default: In | undefined
  /** The default as the README shows it. */
  readonly shownDefault: string
  /** What it does, as the README shows it. */
  readonly description: string
  /** Reads the variable's text. */
  readonly parse: (text: string) => Check<In>
  /** Checks a value from either side and gives what the settings hold. */
  readonly check: (value: In) => Check<Out>
  /** Secrets are read as `Redacted` and never shown. */
  readonly secret?: boolean
}

const setting = <In, Out, const Required extends boolean>(
  s: Setting<In, Out, Required>
): Setting<In, Out, Required> => s

const DIGITS = /^\d+$/
/** Plain digits only: `Config.integer` would take `1e3`, `" 5432"` and `0x10`. */
const parseDigits = (text: string): Check<number> =>
  DIGITS.test(text) ? Number(text) : new Invalid(`a whole number (digits only), got "${text}"`)

/** The fields every setting with a default shares: the default shown as code in the README. */
const optional = <A>(o: { readonly variable: string; readonly default: A; readonly description: string }) => ({
  variable: o.variable,
  required: false as const,
  default: o.default,
  shownDefault: `\`${o.default}\``,
  description: o.description
})

const integer = (o: {
  readonly variable: string
  readonly default: number
  readonly max?: number
  readonly description: string
}) =>
  setting({
    ...optional(o),
    parse: parseDigits,
    check: (n: number): Check<number> => {
      if (!Number.isInteger(n) || n <= 0) return new Invalid(`a whole number greater than 0, got ${n}`)
      if (o.max !== undefined && n > o.max) return new Invalid(`a number from 1 to ${o.max}, got ${n}`)
      return n
    }
  })

/** A duration whose unit is in the variable's name; code may give any `DurationInput`. */
const duration = (o: {
  readonly variable: string
  readonly unit: "millis" | "seconds"
  readonly default: number
  readonly zeroAllowed?: boolean
  readonly description: string
}) =>
  setting({
    variable: o.variable,
    required: false,
    default: `${o.default} ${o.unit}` as Duration.DurationInput,
    shownDefault: `\`${o.default}\``,
    description: o.description,
    parse: (text: string): Check<Duration.DurationInput> => {
      const n = parseDigits(text)
      return n instanceof Invalid ? n : Duration.decode(`${n} ${o.unit}`)
    },
    check: (value: Duration.DurationInput): Check<Duration.Duration> => {
      const decoded = Duration.decodeUnknown(value)
      if (decoded._tag === "None" || !Duration.isFinite(decoded.value)) {
        return new Invalid(`a finite duration, got ${String(value)}`)
      }
      if (!o.zeroAllowed && Duration.toMillis(decoded.value) <= 0) {
        return new Invalid(`a duration greater than 0, got ${Duration.format(decoded.value)}`)
      }
      return decoded.value
    }
  })

const literal = <const L extends string>(o: {
  readonly variable: string
  readonly values: ReadonlyArray<L>
  readonly default: NoInfer<L>
  readonly description: string
}) => {
  const check = (value: string): Check<L> =>
    o.values.includes(value as L) ? value as L : new Invalid(`one of ${o.values.join(", ")}, got "${value}"`)
  return setting<L, L, false>({
    ...optional(o),
    parse: check,
    check
  })
}

const boolean = (o: { readonly variable: string; readonly default: boolean; readonly description: string }) =>
  setting({
    ...optional(o),
    parse: (t: string): Check<boolean> =>
      t === "true" ? true : t === "false" ? false : new Invalid(`true or false, got "${t}"`),
    check: (b: boolean): Check<boolean> => b
  })

/** A setting only code can give: a function or a parser, which no variable can hold. */
const codeOnly = <A>(o: { readonly description: string }) =>
  setting<A, A, false>({
    variable: undefined,
    required: false,
    default: undefined,
    shownDefault: "none",
    description: `(code only) ${o.description}`,
    parse: () => new Invalid("a value given in code"),
    check: (a) => a
  })

const text = <const Required extends boolean>(o: {
  readonly variable: string
  readonly required: Required
  readonly default?: string
  readonly shownDefault?: string
  readonly description: string
}) =>
  setting<string, string, Required>({
    variable: o.variable,
    required: o.required,
    default: o.default,
    shownDefault: o.shownDefault ?? (o.default === undefined ? "required" : `\`${o.default}\``),
    description: o.description,
    parse: (t) => t,
    check: (value) => value.trim() === "" ? new Invalid("a value, got an empty one") : value.trim()
  })

/**
 * Every setting pgfleet reads, keyed by its name in code. The README's
 * configuration table is {@link markdownTable} of this, checked by a test.
 *
 * @since 0.1.0
 * @category constants
 */
export const settings = {
  writerHosts: setting({
    variable: "DB_WRITER_HOST",
    required: true,
    default: undefined,
    shownDefault: "required",
    description: "the primary, or comma-separated candidates (each `host` or `host:port`) of which exactly one is " +
      "the primary: pgfleet finds it at start and follows a promotion",
    parse: (t: string): Check<ReadonlyArray<string>> => t.split(","),
    check: (hosts: ReadonlyArray<string>): Check<ReadonlyArray<string>> => hosts.map((h) => h.trim())
  }),
  readerHosts: setting({
    variable: "DB_READER_HOSTS",
    required: false,
    default: [] as ReadonlyArray<string>,
    shownDefault: "empty",
    description:
      "comma-separated replicas, each `host` or `host:port` (`[v6]:port`); empty means reads go to the writer",
    parse: (t: string): Check<ReadonlyArray<string>> => t.trim() === "" ? [] : t.split(","),
    check: (hosts: ReadonlyArray<string>): Check<ReadonlyArray<string>> => hosts.map((h) => h.trim())
  }),
  port: integer({
    variable: "DB_PORT",
    default: 5432,
    max: 65535,
    description: "port of every host that does not name its own"
  }),
  database: text({ variable: "DB_NAME", required: false, default: "postgres", description: "database" }),
  username: text({ variable: "DB_USERNAME", required: true, description: "user for every host" }),
  password: setting({
    variable: "DB_PASSWORD",
    required: true,
    default: undefined,
    shownDefault: "required",
    secret: true,
    description:
      "password, kept `Redacted`; any character works (host, user and password reach `pg` as separate fields)",
    parse: (t: string): Check<Redacted.Redacted | string> => Redacted.make(t),
    check: (p: Redacted.Redacted | string): Check<Redacted.Redacted> => typeof p === "string" ? Redacted.make(p) : p
  }),
  applicationName: text({
    variable: "DB_APPLICATION_NAME",
    required: false,
    default: "pgfleet",
    description: "`application_name` of every connection"
  }),
  minPoolSize: integer({
    variable: "DB_MIN_POOL_SIZE",
    default: 2,
    description: "connections each pool opens and warms at start, and keeps"
  }),
  maxPoolSize: integer({ variable: "DB_MAX_POOL_SIZE", default: 10, description: "most connections per pool" }),
  poolTimeout: duration({
    variable: "DB_POOL_TIMEOUT",
    unit: "seconds",
    default: 10,
    description: "seconds to wait for a free pooled connection; past it a statement fails with `AcquireTimeout`"
  }),
  maxIdleTime: duration({
    variable: "DB_POOL_MAX_IDLE_TIME_SECONDS",
    unit: "seconds",
    default: 300,
    description: "seconds an idle connection above the minimum is kept"
  }),
  maxLifetime: duration({
    variable: "DB_POOL_MAX_LIFETIME_SECONDS",
    unit: "seconds",
    default: 1800,
    zeroAllowed: true,
    description: "seconds a pooled connection lives before it is replaced when next idle (as HikariCP's " +
      "`maxLifetime`), so pools spread again after a failback or a DNS change; `0` is forever"
  }),
  keepAliveIdle: duration({
    variable: "DB_TCP_KEEPALIVE_IDLE_SECONDS",
    unit: "seconds",
    default: 30,
    description: "seconds a connection is idle before TCP keepalive probes start, so an idle connection to a " +
      "vanished host is found and dropped; the probes' spacing and count are the OS's " +
      "(`net.ipv4.tcp_keepalive_intvl`, `tcp_keepalive_probes`)"
  }),
  connectTimeout: duration({
    variable: "DB_CONNECT_TIMEOUT_MS",
    unit: "millis",
    default: 5000,
    description: "milliseconds to open one connection"
  }),
  statementTimeout: duration({
    variable: "DB_STATEMENT_TIMEOUT_MS",
    unit: "millis",
    default: 0,
    zeroAllowed: true,
    description: "server-side `statement_timeout`; `0` is none"
  }),
  statementTimeoutMode: literal({
    variable: "DB_STATEMENT_TIMEOUT_MODE",
    values: ["startup", "set"],
    default: "startup",
    description: "`startup` (startup packet) or `set` (`SET` on each new connection, for PgBouncer)"
  }),
  ssl: literal({
    variable: "DB_SSL_MODE",
    values: ["disable", "require", "verify-full"],
    default: "disable",
    description: "`disable`, `require` (TLS, no certificate check) or `verify-full`"
  }),
  sslCaFile: setting({
    variable: "DB_SSL_CA_FILE",
    required: false,
    default: undefined,
    shownDefault: "none",
    description: "PEM file of trusted certificate authorities for `verify-full`; checked before anything connects",
    parse: (t: string): Check<string> => t,
    check: (file: string): Check<string> => file
  }),
  readerStrategy: literal({
    variable: "DB_READER_STRATEGY",
    values: ["random", "round-robin", "least-connections"],
    default: "random",
    description: "`random`, `round-robin` or `least-connections`"
  }),
  readerFallback: literal({
    variable: "DB_READER_FALLBACK",
    values: ["writer", "fail"],
    default: "writer",
    description: "where reads go when no replica is healthy: `writer` or `fail`"
  }),
  retryBase: duration({
    variable: "DB_CONNECT_RETRY_BASE_MS",
    unit: "millis",
    default: 100,
    description: "first retry delay when a pool cannot open; also the first re-probe delay of a host in doubt"
  }),
  retryMaxDelay: duration({
    variable: "DB_CONNECT_RETRY_MAX_DELAY_MS",
    unit: "millis",
    default: 5000,
    description: "cap on one retry delay"
  }),
  retryMaxAttempts: integer({
    variable: "DB_CONNECT_RETRY_MAX_ATTEMPTS",
    default: 10,
    description: "attempts before a pool gives up with `ConnectFailed`"
  }),
  healthCheckInterval: duration({
    variable: "DB_HEALTH_CHECK_INTERVAL_MS",
    unit: "millis",
    default: 1000,
    description: "milliseconds between probes of a healthy host"
  }),
  healthCheckTimeout: duration({
    variable: "DB_HEALTH_CHECK_TIMEOUT_MS",
    unit: "millis",
    default: 1000,
    description: "milliseconds one probe may take"
  }),
  healthFailureThreshold: integer({
    variable: "DB_HEALTH_FAILURE_THRESHOLD",
    default: 2,
    description: "failed probes in a row before a host is down"
  }),
  maxReplicaLag: duration({
    variable: "DB_READER_MAX_LAG_MS",
    unit: "millis",
    default: 0,
    zeroAllowed: true,
    description: "replicas whose replay delay exceeds this are skipped; `0` is off"
  }),
  closeGrace: duration({
    variable: "DB_POOL_CLOSE_GRACE_MS",
    unit: "millis",
    default: 5000,
    zeroAllowed: true,
    description: "how long checked-out connections get at shutdown before they are terminated"
  }),
  cancelGrace: duration({
    variable: "DB_CANCEL_GRACE_MS",
    unit: "millis",
    default: 5000,
    zeroAllowed: true,
    description:
      "how long an interrupted statement may take to stop after its cancel request before its connection is destroyed"
  }),
  nameTransform: literal({
    variable: "DB_NAME_TRANSFORM",
    values: ["none", "snake-camel"],
    default: "none",
    description: "`snake-camel`: camelCase identifiers in queries are sent as snake_case, and snake_case result " +
      "columns come back camelCase"
  }),
  transformQueryNames: codeOnly<(name: string) => string>({
    description: "maps identifiers in queries (`sql(\"name\")`, the insert and update helpers); overrides " +
      "`DB_NAME_TRANSFORM`, as in `@effect/sql-pg`"
  }),
  transformResultNames: codeOnly<(name: string) => string>({
    description: "maps result column names; overrides `DB_NAME_TRANSFORM`, as in `@effect/sql-pg`"
  }),
  transformJson: boolean({
    variable: "DB_TRANSFORM_JSON",
    default: true,
    description: "apply the name transforms inside json values too (`sql.json`, json columns)"
  }),
  autoCacheSize: integer({
    variable: "DB_AUTO_CACHE_SIZE",
    default: 1000,
    description: "`pg.auto`: SQL texts whose read/write classification is kept (least recently used go first)"
  }),
  autoFunctionRefresh: duration({
    variable: "DB_AUTO_FUNCTION_REFRESH_MS",
    unit: "millis",
    default: 60000,
    description: "`pg.auto`: how often the volatility of user functions is looked up again (also after DDL through it)"
  }),
  autoReadYourWrites: boolean({
    variable: "DB_AUTO_READ_YOUR_WRITES",
    default: true,
    description: "`pg.auto`: after a write, later reads in the same fiber go only where that write is visible"
  }),
  types: codeOnly<pg.CustomTypesConfig>({
    description: "node-postgres type parsers (`getTypeParser`), e.g. int8 as `bigint`, as in `@effect/sql-pg`"
  })
} as const

type Settings = typeof settings
type InOf<S> = S extends Setting<infer In, any, any> ? In : never
type OutOf<S> = S extends Setting<any, infer Out, any> ? Out : never
type RequiredKeys = { [K in keyof Settings]: Settings[K]["required"] extends true ? K : never }[keyof Settings]

/**
 * What a program may give in code: the connection essentials, and any
 * setting it wants to change from the defaults. Derived from {@link settings}.
 *
 * @since 0.1.0
 * @category models
 */
export type PostgresSettingsInput =
  & { readonly [K in RequiredKeys]: InOf<Settings[K]> }
  & { readonly [K in Exclude<keyof Settings, RequiredKeys>]?: InOf<Settings[K]> | undefined }

/**
 * Validated settings: every entry of {@link settings} checked, plus the
 * resolved hosts and the CA file's contents. Build them with {@link make}
 * or read them with {@link fromEnv}.
 *
 * @since 0.1.0
 * @category models
 */
export type PostgresSettings =
  & { readonly [K in keyof Settings]: OutOf<Settings[K]> }
  & {
    /** The writer candidates, in `DB_WRITER_HOST` order; exactly one must be the primary. */
    readonly writers: ReadonlyArray<HostAddress>
    /** The first candidate. */
    readonly writer: HostAddress
    readonly readers: ReadonlyArray<HostAddress>
    /** PEM certificate authorities to trust for `verify-full`, read from `DB_SSL_CA_FILE`. */
    readonly sslCa: string | undefined
  }

/**
 * The environment variable behind each setting, used to name it in errors.
 *
 * @since 0.1.0
 * @category constants
 */
export const variables = Object.fromEntries(
  Object.entries(settings).map(([key, s]) => [key, s.variable])
) as { readonly [K in keyof Settings]: Settings[K]["variable"] }

type Issue = readonly [setting: keyof Settings, expected: string]

const invalid = (issues: ReadonlyArray<Issue>): ConfigError.ConfigError =>
  issues
    .map(([key, expected]) => ConfigError.InvalidData([settings[key].variable ?? key], `expected ${expected}`))
    .reduce((acc, e) => ConfigError.And(acc, e))

/** Parses `host`, `host:port` or `[v6]:port`. */
const parseHost = (entry: string, defaultPort: number): HostAddress | string => {
  const m = /^(?:\[([^\]]+)\]|([^:\s[\]]+))(?::(\d+))?$/.exec(entry)
  if (m === null) return `"${entry}" is not host or host:port`
  const port = m[3] === undefined ? defaultPort : Number(m[3])
  if (!Number.isInteger(port) || port < 1 || port > 65535) return `"${entry}" has port ${m[3]}, expected 1-65535`
  return { host: (m[1] ?? m[2])!, port }
}

/** Reads the CA file and checks it holds at least one PEM certificate, so a bad file fails before anything connects. */
const readCa = (file: string | undefined): string | Invalid | undefined => {
  if (file === undefined) return undefined
  let pem: string
  try {
    pem = fs.readFileSync(file, "utf8")
  } catch (e) {
    return new Invalid(`a readable PEM file, could not read ${file}: ${(e as Error).message}`)
  }
  try {
    if (!pem.includes("-----BEGIN CERTIFICATE-----")) throw new Error("no BEGIN CERTIFICATE block")
    new crypto.X509Certificate(pem)
    return pem
  } catch (e) {
    return new Invalid(`a PEM file of certificates, but ${file} holds none that parses (${(e as Error).message})`)
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
 *   writerHosts: ["db-primary.internal"],
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
    const checked: Record<string, unknown> = {}
    for (const key of Object.keys(settings) as Array<keyof Settings>) {
      const spec = settings[key] as Setting<unknown, unknown>
      const value = (input as Record<string, unknown>)[key] ?? spec.default
      if (value === undefined) {
        if (spec.required) issues.push([key, "a value, got none"])
        continue
      }
      const result = spec.check(value)
      if (result instanceof Invalid) issues.push([key, result.expected])
      else checked[key] = result
    }
    const out = checked as { -readonly [K in keyof Settings]: OutOf<Settings[K]> }

    const hostList = (key: "writerHosts" | "readerHosts") => {
      const addresses: Array<HostAddress> = []
      for (const entry of out[key] ?? []) {
        const parsed = parseHost(entry, out.port ?? settings.port.default)
        if (typeof parsed === "string") {
          issues.push([key, `host or host:port entries; malformed entry: ${parsed}`])
        } else if (addresses.some((r) => r.host === parsed.host && r.port === parsed.port)) {
          issues.push([key, `distinct entries; duplicate entry: ${parsed.host}:${parsed.port}`])
        } else {
          addresses.push(parsed)
        }
      }
      return addresses
    }
    const writers = hostList("writerHosts")
    if (out.writerHosts !== undefined && out.writerHosts.length === 0) {
      issues.push(["writerHosts", "at least one host, got none"])
    }
    const readers = hostList("readerHosts")
    if (out.minPoolSize !== undefined && out.maxPoolSize !== undefined && out.minPoolSize > out.maxPoolSize) {
      issues.push(["minPoolSize", `at most DB_MAX_POOL_SIZE (${out.maxPoolSize}), got ${out.minPoolSize}`])
    }
    const sslCa = readCa(out.sslCaFile)
    if (sslCa instanceof Invalid) issues.push(["sslCaFile", sslCa.expected])

    if (issues.length > 0) return Effect.fail(invalid(issues))
    return Effect.succeed({
      ...out,
      writers,
      writer: writers[0]!,
      readers,
      sslCa: sslCa as string | undefined
    })
  })

const reader = <In>(spec: Setting<In, unknown>): Config.Config<In | undefined> => {
  const variable = spec.variable
  if (variable === undefined) return Config.succeed(undefined)
  const raw = spec.secret
    ? Config.map(Config.redacted(variable), (r) => Redacted.value(r))
    : Config.string(variable)
  const present = spec.required ? Config.map(raw, Option.some) : Config.option(raw)
  return Config.withDescription(
    Config.mapOrFail(present, (o) => {
      if (o._tag === "None") return Either.right(undefined)
      const parsed = spec.parse(o.value)
      return parsed instanceof Invalid
        ? Either.left(ConfigError.InvalidData([variable], `expected ${parsed.expected}`))
        : Either.right(parsed)
    }),
    spec.description
  )
}

/**
 * The settings as the `DB_*` variables give them, before defaults and
 * validation. {@link fromEnv} is this followed by {@link make}.
 *
 * @since 0.1.0
 * @category config
 */
export const inputFromEnv: Config.Config<PostgresSettingsInput> = Config.map(
  Config.all(
    Object.fromEntries(Object.entries(settings).map(([key, spec]) => [key, reader(spec as Setting<unknown, unknown>)]))
  ),
  (values) => values as unknown as PostgresSettingsInput
)

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
 * The README's configuration table, rendered from {@link settings}.
 *
 * @example
 * ```ts
 * import { PostgresConfig } from "@pgfleet/postgres"
 *
 * const table: string = PostgresConfig.markdownTable()
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const markdownTable = (): string =>
  [
    "| variable | default | what it does |",
    "| --- | --- | --- |",
    ...Object.entries(settings).map(([key, s]) => `| \`${s.variable ?? key}\` | ${s.shownDefault} | ${s.description} |`)
  ].join("\n")

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
 * const SettingsLive = PostgresConfig.layer({ writerHosts: ["localhost"], username: "app", password: "secret" })
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
