/**
 * Settings for a pgfleet fleet, read from `DB_*` variables or given in code.
 * Every value is validated before anything connects; a bad value is an issue
 * that names its variable and says what was expected. Each setting is
 * declared once, in {@link settings}: its variable, default, parser, check
 * and description. Durations are milliseconds, the password a {@link Secret}.
 *
 * @since 0.2.0
 */
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as util from "node:util"
import type pg from "pg"

/**
 * @example
 * ```ts
 * import type { Settings } from "@pgfleet/core"
 *
 * const replica: Settings.HostAddress = { host: "db-replica-1.internal", port: 5432 }
 * ```
 *
 * @since 0.2.0
 * @category models
 */
export interface HostAddress {
  readonly host: string
  readonly port: number
}

/**
 * A host as code gives it, beside the `host;weight=N;max=N` text the
 * variables take.
 *
 * @example
 * ```ts
 * import type { Settings } from "@pgfleet/core"
 *
 * const big: Settings.HostInput = { host: "db-replica-1.internal", weight: 3, maxPoolSize: 30 }
 * ```
 *
 * @since 0.2.0
 * @category models
 */
export interface HostInput {
  readonly host: string
  /** `DB_PORT` unless given. */
  readonly port?: number | undefined
  /** A replica's share of reads relative to the others (1 to 1000); replicas only. 1 unless given. */
  readonly weight?: number | undefined
  /** Most connections in this host's pool; `DB_MAX_POOL_SIZE` unless given. */
  readonly maxPoolSize?: number | undefined
}

/**
 * A resolved host: its address, and the per-host settings it was given
 * (absent when not given: see {@link weightOf} and {@link maxPoolSizeOf}).
 *
 * @example
 * ```ts
 * import { Settings } from "@pgfleet/core"
 *
 * Settings.parseHostEntry("replica-a:6432;weight=3;max=20", 5432)
 * // { host: "replica-a", port: 6432, weight: 3, maxPoolSize: 20 }
 * ```
 *
 * @since 0.2.0
 * @category models
 */
export interface HostEntry extends HostAddress {
  readonly weight?: number | undefined
  readonly maxPoolSize?: number | undefined
}

/**
 * What a setting holds, so a layer over this module (the Effect one) can map
 * its types generically: `duration` is milliseconds, `secret` a
 * {@link Secret}, `hosts` a list of `host` / `host:port` entries, `file` a
 * path, `code` a value only code can give, `provider` a password source only
 * code can give (a function here, an `Effect` in the Effect packages).
 *
 * @example
 * ```ts
 * import { Settings } from "@pgfleet/core"
 *
 * const kind: Settings.Kind = Settings.settings.poolTimeout.kind // "duration"
 * ```
 *
 * @since 0.2.0
 * @category models
 */
export type Kind =
  | "text"
  | "integer"
  | "duration"
  | "literal"
  | "boolean"
  | "hosts"
  | "secret"
  | "file"
  | "code"
  | "provider"

/**
 * A value that failed its check, and what was expected.
 *
 * @example
 * ```ts
 * import { Settings } from "@pgfleet/core"
 *
 * const checked = Settings.settings.port.check(70000)
 * if (checked instanceof Settings.Rejected) console.log(checked.expected) // a number from 1 to 65535, got 70000
 * ```
 *
 * @since 0.2.0
 * @category models
 */
export class Rejected {
  constructor(readonly expected: string) {}
}

/**
 * What a parser or a check gives: the value, or why it was rejected.
 *
 * @example
 * ```ts
 * import { Settings } from "@pgfleet/core"
 *
 * const parsed: Settings.Check<number> = Settings.settings.port.parse("6432")
 * ```
 *
 * @since 0.2.0
 * @category models
 */
export type Check<A> = A | Rejected

const REDACTED = "<redacted>"
/** Outside the object, so no property, spread or serialiser can reach it. */
const secrets = new WeakMap<Secret, string>()

/**
 * A string that prints as `<redacted>` (`String`, `JSON.stringify`,
 * `util.inspect`), so a password in settings never reaches a log.
 * {@link Secret.value} reveals it.
 *
 * @example
 * ```ts
 * import { Settings } from "@pgfleet/core"
 *
 * const password = new Settings.Secret("p@ss")
 * console.log(`${password}`) // <redacted>
 * const sent: string = password.value()
 * ```
 *
 * @since 0.2.0
 * @category models
 */
export class Secret {
  constructor(value: string) {
    secrets.set(this, value)
  }
  /**
   * The secret itself.
   *
   * @since 0.2.0
   */
  value(): string {
    return secrets.get(this)!
  }
  /**
   * @since 0.2.0
   */
  toString(): string {
    return REDACTED
  }
  /**
   * @since 0.2.0
   */
  toJSON(): string {
    return REDACTED
  }
  /**
   * @since 0.2.0
   */
  [util.inspect.custom](): string {
    return REDACTED
  }
}

/**
 * A password source only code can give: called for the password of a new
 * connection (an IAM token, a secret manager's value).
 *
 * @example
 * ```ts
 * import type { Settings } from "@pgfleet/core"
 *
 * const provider: Settings.PasswordProvider = async () => (await fetch("http://vault.internal/db")).text()
 * ```
 *
 * @since 0.2.0
 * @category models
 */
export type PasswordProvider = () => string | Secret | Promise<string | Secret>

/**
 * One setting, declared once: what it holds, its variable, default, parser,
 * check and description. The environment reader, the code-side input type,
 * {@link validate} and the README's table all derive from {@link settings}.
 *
 * @example
 * ```ts
 * import { Settings } from "@pgfleet/core"
 *
 * const port: Settings.Setting<number, number, false, "integer"> = Settings.settings.port
 * ```
 *
 * @since 0.2.0
 * @category models
 */
export interface Setting<In, Out, Required extends boolean = boolean, K extends Kind = Kind> {
  readonly kind: K
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
}

const setting = <In, Out, const Required extends boolean, const K extends Kind>(
  s: Setting<In, Out, Required, K>
): Setting<In, Out, Required, K> => s

const DIGITS = /^\d+$/
/** Plain digits only: `Number()` would take `1e3`, `" 5432"` and `0x10`. */
const parseDigits = (text: string): Check<number> =>
  DIGITS.test(text) ? Number(text) : new Rejected(`a whole number (digits only), got "${text}"`)

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
    kind: "integer",
    ...optional(o),
    parse: parseDigits,
    check: (n: number): Check<number> => {
      if (!Number.isInteger(n) || n <= 0) return new Rejected(`a whole number greater than 0, got ${n}`)
      if (o.max !== undefined && n > o.max) return new Rejected(`a number from 1 to ${o.max}, got ${n}`)
      return n
    }
  })

/** Shows a rejected duration as effect's `Duration.format` does for the values rejected from there (only `0`). */
const formatMillis = (ms: number): string => ms === 0 ? "0" : `${ms}ms`

/** Milliseconds; the variable's text is in the unit its name says. */
const duration = (o: {
  readonly variable: string
  readonly unit: "millis" | "seconds"
  readonly default: number
  readonly zeroAllowed?: boolean
  readonly description: string
}) => {
  const scale = o.unit === "seconds" ? 1000 : 1
  return setting({
    kind: "duration",
    variable: o.variable,
    required: false,
    default: o.default * scale,
    shownDefault: `\`${o.default}\``,
    description: o.description,
    parse: (text: string): Check<number> => {
      const n = parseDigits(text)
      return n instanceof Rejected ? n : n * scale
    },
    check: (ms: number): Check<number> => {
      // `String`, not a template: whatever code gave is named as given.
      if (typeof ms !== "number" || !Number.isFinite(ms)) return new Rejected(`a finite duration, got ${String(ms)}`)
      if (ms < 0 && o.zeroAllowed) return new Rejected(`a duration of 0 or more, got ${formatMillis(ms)}`)
      if (ms <= 0 && !o.zeroAllowed) return new Rejected(`a duration greater than 0, got ${formatMillis(ms)}`)
      return ms
    }
  })
}

const literal = <const L extends string>(o: {
  readonly variable: string
  readonly values: ReadonlyArray<L>
  readonly default: NoInfer<L>
  readonly description: string
}) => {
  const check = (value: string): Check<L> =>
    o.values.includes(value as L) ? value as L : new Rejected(`one of ${o.values.join(", ")}, got "${value}"`)
  return setting<L, L, false, "literal">({
    kind: "literal",
    ...optional(o),
    parse: check,
    check
  })
}

const boolean = (o: { readonly variable: string; readonly default: boolean; readonly description: string }) =>
  setting({
    kind: "boolean",
    ...optional(o),
    parse: (t: string): Check<boolean> =>
      t === "true" ? true : t === "false" ? false : new Rejected(`true or false, got "${t}"`),
    check: (b: boolean): Check<boolean> => b
  })

/** A setting only code can give: a function or a parser, which no variable can hold. */
const codeOnly = <A>(o: { readonly description: string }) =>
  setting<A, A, false, "code">({
    kind: "code",
    variable: undefined,
    required: false,
    default: undefined,
    shownDefault: "none",
    description: `(code only) ${o.description}`,
    parse: () => new Rejected("a value given in code"),
    check: (a) => a
  })

const text = <const Required extends boolean>(o: {
  readonly variable: string
  readonly required: Required
  readonly default?: string
  readonly description: string
}) =>
  setting<string, string, Required, "text">({
    kind: "text",
    variable: o.variable,
    required: o.required,
    default: o.default,
    shownDefault: o.default === undefined ? "required" : `\`${o.default}\``,
    description: o.description,
    parse: (t) => t,
    check: (value) => value.trim() === "" ? new Rejected("a value, got an empty one") : value.trim()
  })

/** Comma-separated `host` / `host:port` entries with `;key=N` options; {@link validate} resolves them to entries. */
const hosts = <const Required extends boolean>(o: {
  readonly variable: string
  readonly required: Required
  readonly default: ReadonlyArray<string> | undefined
  readonly shownDefault: string
  readonly description: string
  readonly parse: (text: string) => ReadonlyArray<string>
}) =>
  setting<ReadonlyArray<string | HostInput>, ReadonlyArray<string | HostInput>, Required, "hosts">({
    kind: "hosts",
    ...o,
    check: (entries) => entries.map((h) => typeof h === "string" ? h.trim() : h)
  })

/**
 * Every setting pgfleet reads, keyed by its name in code. The README's
 * configuration table is {@link markdownTable} of this.
 *
 * @example
 * ```ts
 * import { Settings } from "@pgfleet/core"
 *
 * const variable = Settings.settings.poolTimeout.variable // "DB_POOL_TIMEOUT"
 * const ms = Settings.settings.poolTimeout.default // 10000
 * ```
 *
 * @since 0.2.0
 * @category constants
 */
export const settings = {
  writerHosts: hosts({
    variable: "DB_WRITER_HOST",
    required: true,
    default: undefined,
    shownDefault: "required",
    description: "the primary, or comma-separated candidates (each `host` or `host:port`) of which exactly one is " +
      "the primary: pgfleet finds it at start and follows a promotion; `;max=N` after an entry sets that host's " +
      "pool size",
    parse: (t) => t.split(",")
  }),
  readerHosts: hosts({
    variable: "DB_READER_HOSTS",
    required: false,
    default: [],
    shownDefault: "empty",
    description: "comma-separated replicas, each `host` or `host:port` (`[v6]:port`), optionally followed by " +
      "`;weight=N` (its share of reads against the others', 1 to 1000, default 1) and `;max=N` (its pool size, " +
      "default `DB_MAX_POOL_SIZE`), e.g. `replica-a;weight=3;max=30,replica-b`; empty means reads go to the writer",
    parse: (t) => t.trim() === "" ? [] : t.split(",")
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
    kind: "secret",
    variable: "DB_PASSWORD",
    required: false,
    default: undefined,
    shownDefault: "required, unless `DB_PASSWORD_FILE` or `passwordProvider`",
    description:
      "password, kept `Redacted`; any character works (host, user and password reach `pg` as separate fields)",
    parse: (t: string): Check<Secret | string> => new Secret(t),
    check: (p: Secret | string): Check<Secret> => typeof p === "string" ? new Secret(p) : p
  }),
  passwordFile: setting({
    kind: "file",
    variable: "DB_PASSWORD_FILE",
    required: false,
    default: undefined,
    shownDefault: "none",
    description: "file holding the password (Docker and Kubernetes secrets), instead of `DB_PASSWORD`: read for " +
      "each new connection (see `DB_PASSWORD_CACHE_SECONDS`), so a rewritten file takes effect without a " +
      "restart; trailing line breaks are dropped; checked before anything connects",
    parse: (t: string): Check<string> => t,
    check: (file: string): Check<string> => file.trim() === "" ? new Rejected("a file path, got an empty one") : file
  }),
  passwordProvider: setting<PasswordProvider, PasswordProvider, false, "provider">({
    kind: "provider",
    variable: undefined,
    required: false,
    default: undefined,
    shownDefault: "none",
    description: "(code only) instead of `DB_PASSWORD`: asked for the password of each new connection (see " +
      "`DB_PASSWORD_CACHE_SECONDS`), e.g. for RDS, Cloud SQL or Azure IAM tokens; an `Effect` giving a " +
      "`Redacted` in `@pgfleet/postgres`, an async function outside Effect",
    parse: () => new Rejected("a value given in code"),
    check: (p: PasswordProvider): Check<PasswordProvider> =>
      typeof p === "function" ? p : new Rejected(`a function giving the password, got ${typeof p}`)
  }),
  passwordCacheTime: duration({
    variable: "DB_PASSWORD_CACHE_SECONDS",
    unit: "seconds",
    default: 0,
    zeroAllowed: true,
    description: "seconds a password from `DB_PASSWORD_FILE` or `passwordProvider` is reused for new " +
      "connections; `0` asks for each (connections asking at once share one ask); a refused login always asks " +
      "once more, past the cache"
  }),
  applicationName: text({
    variable: "DB_APPLICATION_NAME",
    required: false,
    default: "pgfleet",
    description: "`application_name` of every connection"
  }),
  fleetName: text({
    variable: "DB_FLEET_NAME",
    required: false,
    default: "default",
    description: "the fleet's name in `stats`, spans (`pgfleet.fleet`), log annotations and metrics (`fleet`), " +
      "so several fleets in one program can be told apart; read with a prefix (`ORDERS_DB_*`), the prefix in " +
      "lower case (`orders`)"
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
    values: ["startup", "set", "verify"],
    default: "startup",
    description: "`startup` (startup packet); `set` (`SET` on each new connection: holds on a direct or " +
      "session-pooled connection only); `verify` (the server sets it, e.g. `ALTER ROLE … SET statement_timeout`; " +
      "each pool checks at open, through its host, that `statement_timeout` equals `DB_STATEMENT_TIMEOUT_MS` and " +
      "fails naming host, expected and seen): for a transaction-pooling PgBouncer"
  }),
  ssl: literal({
    variable: "DB_SSL_MODE",
    values: ["disable", "require", "verify-full"],
    default: "disable",
    description: "`disable`, `require` (TLS, no certificate check) or `verify-full`"
  }),
  sslCaFile: setting({
    kind: "file",
    variable: "DB_SSL_CA_FILE",
    required: false,
    default: undefined,
    shownDefault: "none",
    description: "PEM file of trusted certificate authorities for `verify-full`; checked before anything connects",
    parse: (t: string): Check<string> => t,
    check: (file: string): Check<string> => file
  }),
  driver: literal({
    variable: "DB_DRIVER",
    values: ["node-postgres", "sql-pg"],
    default: "node-postgres",
    description: "what runs the statements: `node-postgres` pools, or (`@pgfleet/effect4` only) `@effect/sql-pg` " +
      "4's own `PgPool` (its wire protocol, prepared statements and, with `DB_MULTIPLEX`, pipelining); probes and " +
      "`listen` use node-postgres either way"
  }),
  multiplex: boolean({
    variable: "DB_MULTIPLEX",
    default: false,
    description: "`DB_DRIVER=sql-pg` only: statements outside a transaction share pooled connections, pipelined " +
      "(sql-pg's `multiplex`); an interrupted statement is then not cancelled on the server"
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

type Table = typeof settings

/**
 * What a setting accepts.
 *
 * @example
 * ```ts
 * import type { Settings } from "@pgfleet/core"
 *
 * type Password = Settings.InOf<typeof Settings.settings.password> // Secret | string
 * ```
 *
 * @since 0.2.0
 * @category models
 */
export type InOf<S> = S extends Setting<infer In, any, any, any> ? In : never

/**
 * What a setting holds once checked.
 *
 * @example
 * ```ts
 * import type { Settings } from "@pgfleet/core"
 *
 * type Password = Settings.OutOf<typeof Settings.settings.password> // Secret
 * ```
 *
 * @since 0.2.0
 * @category models
 */
export type OutOf<S> = S extends Setting<any, infer Out, any, any> ? Out : never

type RequiredKeys = { [K in keyof Table]: Table[K]["required"] extends true ? K : never }[keyof Table]

/**
 * What a program may give in code: the connection essentials, and any
 * setting it wants to change from the defaults. Durations in milliseconds.
 *
 * @example
 * ```ts
 * import type { Settings } from "@pgfleet/core"
 *
 * const input: Settings.SettingsInput = {
 *   writerHosts: ["db-primary.internal"],
 *   username: "app",
 *   password: "secret",
 *   poolTimeout: 2_000
 * }
 * ```
 *
 * @since 0.2.0
 * @category models
 */
export type SettingsInput =
  & { readonly [K in RequiredKeys]: InOf<Table[K]> }
  & { readonly [K in Exclude<keyof Table, RequiredKeys>]?: InOf<Table[K]> | undefined }

/**
 * Validated settings: every entry of {@link settings} checked, plus the
 * resolved hosts and the CA file's contents.
 *
 * @example
 * ```ts
 * import { Settings } from "@pgfleet/core"
 *
 * const result = Settings.validate({ writerHosts: ["db"], username: "app", password: "secret" })
 * if (result._tag === "Valid") {
 *   const waitMs: number = result.settings.poolTimeout // 10000
 * }
 * ```
 *
 * @since 0.2.0
 * @category models
 */
export type Settings = { readonly [K in keyof Table]: OutOf<Table[K]> } & Resolved

/**
 * What validation adds to the checked settings: the parsed hosts and the CA file's contents.
 *
 * @since 0.2.0
 * @category models
 */
export interface Resolved {
  /** The writer candidates, in `DB_WRITER_HOST` order; exactly one must be the primary. */
  readonly writers: ReadonlyArray<HostEntry>
  /** The first candidate. */
  readonly writer: HostEntry
  readonly readers: ReadonlyArray<HostEntry>
  /** PEM certificate authorities to trust for `verify-full`, read from `DB_SSL_CA_FILE`. */
  readonly sslCa: string | undefined
}

/**
 * One problem found: the setting, its variable (its key for code-only
 * settings) and what was expected.
 *
 * @example
 * ```ts
 * import type { Settings } from "@pgfleet/core"
 *
 * const issue: Settings.Issue = { key: "port", variable: "DB_PORT", expected: "a number from 1 to 65535, got 70000" }
 * ```
 *
 * @since 0.2.0
 * @category models
 */
export interface Issue {
  readonly key: keyof Table
  readonly variable: string
  readonly expected: string
}

/**
 * The outcome of {@link validate} and {@link fromEnv}: the settings, or every issue found.
 *
 * @example
 * ```ts
 * import { Settings } from "@pgfleet/core"
 *
 * const result: Settings.Validation = Settings.validate({ writerHosts: ["db"], username: "app", password: "secret" })
 * ```
 *
 * @since 0.2.0
 * @category models
 */
export type Validation =
  | { readonly _tag: "Valid"; readonly settings: Settings }
  | { readonly _tag: "Invalid"; readonly issues: ReadonlyArray<Issue> }

/**
 * Invalid settings, every issue named by its variable in the message.
 *
 * @example
 * ```ts
 * import { Settings } from "@pgfleet/core"
 *
 * const result = Settings.fromEnv({ DB_WRITER_HOST: "localhost", DB_USERNAME: "app", DB_PASSWORD: "x" })
 * if (result._tag === "Invalid") throw new Settings.SettingsError(result.issues)
 * ```
 *
 * @since 0.2.0
 * @category errors
 */
export class SettingsError extends Error {
  /**
   * @since 0.2.0
   */
  override readonly name = "SettingsError"
  constructor(readonly issues: ReadonlyArray<Issue>) {
    super(`invalid settings:\n${issues.map((i) => `  ${i.variable}: expected ${i.expected}`).join("\n")}`)
  }
}

/**
 * The environment variable behind each setting, used to name it in errors.
 *
 * @example
 * ```ts
 * import { Settings } from "@pgfleet/core"
 *
 * const variable = Settings.variables.maxPoolSize // "DB_MAX_POOL_SIZE"
 * ```
 *
 * @since 0.2.0
 * @category constants
 */
export const variables = Object.fromEntries(
  Object.entries(settings).map(([key, s]) => [key, s.variable])
) as { readonly [K in keyof Table]: Table[K]["variable"] }

const keys = Object.keys(settings) as ReadonlyArray<keyof Table>

const issue = (key: keyof Table, expected: string): Issue => ({
  key,
  variable: settings[key].variable ?? key,
  expected
})

/** No password source is set: named by `DB_PASSWORD`, the usual one. */
const noPassword = (): Issue => issue("password", "a value, or DB_PASSWORD_FILE, or passwordProvider in code; got none")

/**
 * Parses `host`, `host:port` or `[v6]:port`: the address, or why the entry is malformed.
 *
 * @example
 * ```ts
 * import { Settings } from "@pgfleet/core"
 *
 * Settings.parseHost("[::1]:5433", 5432) // { host: "::1", port: 5433 }
 * Settings.parseHost("db:http", 5432) // "\"db:http\" is not host or host:port"
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const parseHost = (entry: string, defaultPort: number): HostAddress | string => {
  const m = /^(?:\[([^\]]+)\]|([^:\s[\]]+))(?::(\d+))?$/.exec(entry)
  if (m === null) return `"${entry}" is not host or host:port`
  const port = m[3] === undefined ? defaultPort : Number(m[3])
  if (!Number.isInteger(port) || port < 1 || port > 65535) return `"${entry}" has port ${m[3]}, expected 1-65535`
  return { host: (m[1] ?? m[2])!, port }
}

/** Per-host options: the name after `;` in a host entry, its field, and its largest value. */
const HOST_OPTIONS = { weight: { field: "weight", max: 1000 }, max: { field: "maxPoolSize", max: 10_000 } } as const

const hostOption = (label: string, name: string, value: unknown, max: number): number | string =>
  typeof value === "number" && Number.isInteger(value) && value >= 1 && value <= max
    ? value
    : `${label}: ${name} must be a whole number from 1 to ${max}, got ${JSON.stringify(value)}`

/**
 * Parses one host entry: `host`, `host:port` or `[v6]:port`, then any of
 * `;weight=N` (a replica's share of reads) and `;max=N` (its pool size).
 * Gives the entry, or what is wrong with it, naming the host.
 *
 * @example
 * ```ts
 * import { Settings } from "@pgfleet/core"
 *
 * Settings.parseHostEntry("replica-a;weight=3;max=20", 5432) // { host: "replica-a", port: 5432, weight: 3, maxPoolSize: 20 }
 * Settings.parseHostEntry("replica-a;weight=heavy", 5432) // "replica-a:5432: weight must be a whole number from 1 to 1000, got \"heavy\""
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const parseHostEntry = (entry: string | HostInput, defaultPort: number): HostEntry | string => {
  if (typeof entry !== "string") {
    const host = typeof entry.host === "string" ? entry.host.trim() : ""
    if (host === "" || /\s/.test(host)) return `${JSON.stringify(entry.host)} is not a host name or address`
    const port = hostOption(host, "port", entry.port ?? defaultPort, 65535)
    if (typeof port === "string") return port
    const label = hostLabel({ host, port })
    let out: HostEntry = { host, port }
    for (const { field, max } of Object.values(HOST_OPTIONS)) {
      const value = entry[field]
      if (value === undefined) continue
      const checked = hostOption(label, field, value, max)
      if (typeof checked === "string") return checked
      out = { ...out, [field]: checked }
    }
    return out
  }
  const [first, ...options] = entry.split(";")
  const address = parseHost(first!.trim(), defaultPort)
  if (typeof address === "string") return address
  const label = hostLabel(address)
  let out: HostEntry = address
  for (const option of options) {
    const m = /^\s*([a-z]+)\s*=\s*(.*?)\s*$/.exec(option)
    const known = m === null ? undefined : HOST_OPTIONS[m[1] as keyof typeof HOST_OPTIONS]
    if (m === null || known === undefined || !Object.hasOwn(HOST_OPTIONS, m[1]!)) {
      return `${label}: unknown option "${option.trim()}", expected weight=N or max=N`
    }
    if (out[known.field] !== undefined) return `${label}: ${m[1]} given twice`
    const n = DIGITS.test(m[2]!) ? Number(m[2]) : m[2]!
    const checked = hostOption(label, m[1]!, n, known.max)
    if (typeof checked === "string") return checked
    out = { ...out, [known.field]: checked }
  }
  return out
}

/**
 * A replica's weight: as given, else 1.
 *
 * @example
 * ```ts
 * import { Settings } from "@pgfleet/core"
 *
 * Settings.weightOf({ host: "replica-a", port: 5432 }) // 1
 * ```
 *
 * @since 0.2.0
 * @category utils
 */
export const weightOf = (entry: HostEntry): number => entry.weight ?? 1

/**
 * A host's pool size: its own `;max=N`, else `DB_MAX_POOL_SIZE`.
 *
 * @example
 * ```ts
 * import { Settings } from "@pgfleet/core"
 *
 * Settings.maxPoolSizeOf({ host: "replica-a", port: 5432, maxPoolSize: 30 }, { maxPoolSize: 10 }) // 30
 * ```
 *
 * @since 0.2.0
 * @category utils
 */
export const maxPoolSizeOf = (entry: HostEntry, settings: { readonly maxPoolSize: number }): number =>
  entry.maxPoolSize ?? settings.maxPoolSize

/**
 * The password a `DB_PASSWORD_FILE` holds: its text without trailing line
 * breaks, as the shell's `$(< file)` reads it (Docker's `_FILE` convention).
 *
 * @example
 * ```ts
 * import { Settings } from "@pgfleet/core"
 *
 * Settings.passwordInFile("s3cret\n") // "s3cret"
 * ```
 *
 * @since 0.2.0
 * @category utils
 */
export const passwordInFile = (text: string): string => text.replace(/[\r\n]+$/, "")

/** What is wrong with the password file now (never its contents), or `undefined`. */
const readablePasswordFile = (file: string): string | undefined => {
  let text: string
  try {
    text = fs.readFileSync(file, "utf8")
  } catch (e) {
    return `a readable file, could not read ${file}: ${(e as Error).message}`
  }
  return passwordInFile(text) === "" ? `a file holding the password, but ${file} is empty` : undefined
}

/** Reads the CA file and checks it holds at least one PEM certificate, so a bad file fails before anything connects. */
const readCa = (file: string | undefined): Check<string | undefined> => {
  if (file === undefined) return undefined
  let pem: string
  try {
    pem = fs.readFileSync(file, "utf8")
  } catch (e) {
    return new Rejected(`a readable PEM file, could not read ${file}: ${(e as Error).message}`)
  }
  try {
    if (!pem.includes("-----BEGIN CERTIFICATE-----")) throw new Error("no BEGIN CERTIFICATE block")
    new crypto.X509Certificate(pem)
    return pem
  } catch (e) {
    return new Rejected(`a PEM file of certificates, but ${file} holds none that parses (${(e as Error).message})`)
  }
}

/**
 * Fills in defaults and validates, reading `DB_SSL_CA_FILE` if set. Gives
 * every problem found, each naming its `DB_*` variable.
 *
 * @example
 * ```ts
 * import { Settings } from "@pgfleet/core"
 *
 * const result = Settings.validate({
 *   writerHosts: ["db-primary.internal"],
 *   readerHosts: ["db-replica-1.internal", "db-replica-2.internal:6432"],
 *   username: "app",
 *   password: new Settings.Secret("p@ss:w/rd#?"),
 *   readerStrategy: "least-connections"
 * })
 * if (result._tag === "Valid") console.log(result.settings.readers)
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const validate = (input: SettingsInput, options: ValidateOptions = {}): Validation => {
  const issues: Array<Issue> = []
  const checked: Record<string, unknown> = {}
  for (const key of keys) {
    const spec = settings[key] as Setting<unknown, unknown>
    const value = (input as Record<string, unknown>)[key] ?? spec.default
    if (value === undefined) {
      if (spec.required) issues.push(issue(key, "a value, got none"))
      continue
    }
    const result = spec.check(value)
    if (result instanceof Rejected) issues.push(issue(key, result.expected))
    else checked[key] = result
  }
  const out = checked as { -readonly [K in keyof Table]: OutOf<Table[K]> }

  const hostList = (key: "writerHosts" | "readerHosts") => {
    const addresses: Array<HostEntry> = []
    for (const entry of out[key] ?? []) {
      const parsed = parseHostEntry(entry, out.port ?? settings.port.default)
      if (typeof parsed === "string") {
        issues.push(issue(key, `host or host:port entries; malformed entry: ${parsed}`))
      } else if (addresses.some((r) => r.host === parsed.host && r.port === parsed.port)) {
        issues.push(issue(key, `distinct entries; duplicate entry: ${parsed.host}:${parsed.port}`))
      } else if (key === "writerHosts" && parsed.weight !== undefined) {
        issues.push(issue(
          key,
          `no weight on writer entries (weights share reads among DB_READER_HOSTS); ` +
            `${hostLabel(parsed)} has weight=${parsed.weight}`
        ))
      } else if (
        out.minPoolSize !== undefined && parsed.maxPoolSize !== undefined && parsed.maxPoolSize < out.minPoolSize
      ) {
        issues.push(issue(
          key,
          `each host's max at least DB_MIN_POOL_SIZE (${out.minPoolSize}); ` +
            `${hostLabel(parsed)} has max=${parsed.maxPoolSize}`
        ))
      } else {
        addresses.push(parsed)
      }
    }
    return addresses
  }
  const writers = hostList("writerHosts")
  if (out.writerHosts !== undefined && out.writerHosts.length === 0) {
    issues.push(issue("writerHosts", "at least one host, got none"))
  }
  const readers = hostList("readerHosts")
  if (out.minPoolSize !== undefined && out.maxPoolSize !== undefined && out.minPoolSize > out.maxPoolSize) {
    issues.push(issue("minPoolSize", `at most DB_MAX_POOL_SIZE (${out.maxPoolSize}), got ${out.minPoolSize}`))
  }
  const drivers = options.drivers ?? ["node-postgres"]
  if (out.driver !== undefined && !drivers.includes(out.driver)) {
    issues.push(issue("driver", `one of ${drivers.join(", ")} (sql-pg is @pgfleet/effect4's), got "${out.driver}"`))
  }
  if (out.driver === "sql-pg" && out.statementTimeoutMode === "set") {
    issues.push(issue(
      "statementTimeoutMode",
      "startup or verify with DB_DRIVER=sql-pg (its pool has no hook to run SET on a new connection), got \"set\""
    ))
  }
  if (out.multiplex === true && out.driver !== "sql-pg") {
    issues.push(issue("multiplex", `false unless DB_DRIVER is sql-pg (DB_DRIVER is ${out.driver ?? "unset"})`))
  }
  const sslCa = readCa(out.sslCaFile)
  if (sslCa instanceof Rejected) issues.push(issue("sslCaFile", sslCa.expected))
  const passwordSources = (["password", "passwordFile", "passwordProvider"] as const).filter((k) =>
    out[k] !== undefined
  )
  if (passwordSources.length === 0) {
    issues.push(noPassword())
  } else if (passwordSources.length > 1) {
    issues.push(issue(
      passwordSources[1]!,
      `one password source, got ${passwordSources.map((k) => settings[k].variable ?? k).join(" and ")}`
    ))
  } else if (out.passwordFile !== undefined) {
    const problem = readablePasswordFile(out.passwordFile)
    if (problem !== undefined) issues.push(issue("passwordFile", problem))
  }

  if (issues.length > 0) return { _tag: "Invalid", issues }
  return {
    _tag: "Valid",
    settings: { ...out, writers, writer: writers[0]!, readers, sslCa: sslCa as string | undefined }
  }
}

/**
 * The validated settings from `DB_*` variables in a plain record (by
 * default `process.env`), or from `ORDERS_DB_*` with `{ prefix: "ORDERS" }`
 * (issues then name the prefixed variables). An unset variable takes its
 * default; a set one must parse, even when empty.
 *
 * @example
 * ```ts
 * import { Settings } from "@pgfleet/core"
 *
 * const result = Settings.fromEnv({ DB_WRITER_HOST: "localhost", DB_USERNAME: "app", DB_PASSWORD: "x" })
 * const orders = Settings.fromEnv(
 *   { ORDERS_DB_WRITER_HOST: "orders-db", ORDERS_DB_USERNAME: "app", ORDERS_DB_PASSWORD: "x" },
 *   { prefix: "ORDERS" }
 * ) // orders.settings.fleetName === "orders"
 * ```
 *
 * @since 0.2.0
 * @category config
 */
export const fromEnv = (
  env: Readonly<Record<string, string | undefined>> = process.env,
  options: EnvOptions = {}
): Validation => {
  const prefix = options.prefix
  const issues: Array<Issue> = []
  const input: Record<string, unknown> = {}
  for (const key of keys) {
    const spec = settings[key] as Setting<unknown, unknown>
    const text = spec.variable === undefined ? undefined : env[prefixed(prefix, spec.variable)]
    if (text === undefined) {
      if (spec.required) issues.push(issue(key, "a value, got none"))
      continue
    }
    const parsed = spec.parse(text)
    if (parsed instanceof Rejected) issues.push(issue(key, parsed.expected))
    else input[key] = parsed
  }
  input.fleetName ??= defaultFleetName(prefix)
  // The password has several sources, so it is not `required`; its absence is reported with the other issues.
  if (issues.length > 0 && input.password === undefined && input.passwordFile === undefined) issues.push(noPassword())
  // As the Effect reader: unreadable variables are reported alone, since defaults in their place would mislead.
  const result = issues.length > 0 ? { _tag: "Invalid" as const, issues } : validate(input as SettingsInput, options)
  return result._tag === "Invalid" ? { _tag: "Invalid", issues: withPrefix(result.issues, prefix) } : result
}

/**
 * How {@link fromEnv} reads a fleet's variables: `prefix` (e.g. `ORDERS`)
 * reads `ORDERS_DB_WRITER_HOST` and so on, so one environment configures
 * several fleets; the fleet's name is then the prefix in lower case unless
 * `ORDERS_DB_FLEET_NAME` says otherwise.
 *
 * @example
 * ```ts
 * import { Settings } from "@pgfleet/core"
 *
 * const options: Settings.EnvOptions = { prefix: "ORDERS" }
 * const orders = Settings.fromEnv(process.env, options)
 * ```
 *
 * @since 0.2.0
 * @category models
 */
export interface EnvOptions extends ValidateOptions {
  readonly prefix?: string | undefined
}

/**
 * What a line of pgfleet supports, for {@link validate}: `drivers` it can
 * run statements on (by default node-postgres alone; `@pgfleet/effect4`
 * adds `sql-pg`).
 *
 * @example
 * ```ts
 * import { Settings } from "@pgfleet/core"
 *
 * const effect4: Settings.ValidateOptions = { drivers: ["node-postgres", "sql-pg"] }
 * const result = Settings.validate({ writerHosts: ["db"], username: "app", password: "x", driver: "sql-pg" }, effect4)
 * ```
 *
 * @since 0.2.0
 * @category models
 */
export interface ValidateOptions {
  readonly drivers?: ReadonlyArray<OutOf<typeof settings.driver>> | undefined
}

/**
 * A setting's variable under a prefix: `ORDERS` and `DB_PORT` give
 * `ORDERS_DB_PORT` (as Effect's `Config.nested(config, "ORDERS")` reads the
 * environment); no prefix (or an empty one) gives the variable itself. A
 * trailing `_` on the prefix is dropped.
 *
 * @example
 * ```ts
 * import { Settings } from "@pgfleet/core"
 *
 * Settings.prefixed("ORDERS", "DB_WRITER_HOST") // "ORDERS_DB_WRITER_HOST"
 * Settings.prefixed(undefined, "DB_WRITER_HOST") // "DB_WRITER_HOST"
 * ```
 *
 * @since 0.2.0
 * @category utils
 */
export const prefixed = (prefix: string | undefined, variable: string): string => {
  const p = prefix?.replace(/_$/, "")
  return p === undefined || p === "" ? variable : `${p}_${variable}`
}

/**
 * The name a fleet read under `prefix` gets unless `DB_FLEET_NAME` is set:
 * the prefix in lower case, or `default` without one.
 *
 * @example
 * ```ts
 * import { Settings } from "@pgfleet/core"
 *
 * Settings.defaultFleetName("ORDERS") // "orders"
 * Settings.defaultFleetName(undefined) // "default"
 * ```
 *
 * @since 0.2.0
 * @category utils
 */
export const defaultFleetName = (prefix: string | undefined): string => {
  const p = prefix?.replace(/_$/, "")
  return p === undefined || p === "" ? settings.fleetName.default! : p.toLowerCase()
}

const known = new Set(Object.values(settings).flatMap((s) => s.variable === undefined ? [] : [s.variable]))

/**
 * Issues as read under `prefix`: each variable, and each variable named in
 * what was expected, gets the prefix, so an error names the variable the
 * user must fix (`ORDERS_DB_WRITER_HOST`).
 *
 * @example
 * ```ts
 * import { Settings } from "@pgfleet/core"
 *
 * const result = Settings.validate({ writerHosts: [], username: "app", password: "x" })
 * if (result._tag === "Invalid") console.log(Settings.withPrefix(result.issues, "ORDERS")[0]!.variable) // ORDERS_DB_WRITER_HOST
 * ```
 *
 * @since 0.2.0
 * @category utils
 */
export const withPrefix = (issues: ReadonlyArray<Issue>, prefix: string | undefined): ReadonlyArray<Issue> =>
  prefixed(prefix, "") === ""
    ? issues
    : issues.map((i) => ({
      ...i,
      variable: known.has(i.variable) ? prefixed(prefix, i.variable) : i.variable,
      expected: i.expected.replace(/\bDB_[A-Z0-9_]+\b/g, (v) => known.has(v) ? prefixed(prefix, v) : v)
    }))

/**
 * The README's configuration table, rendered from {@link settings}.
 *
 * @example
 * ```ts
 * import { Settings } from "@pgfleet/core"
 *
 * const table: string = Settings.markdownTable()
 * ```
 *
 * @since 0.2.0
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
 * @example
 * ```ts
 * import { Settings } from "@pgfleet/core"
 *
 * Settings.hostLabel({ host: "::1", port: 5432 }) // "[::1]:5432"
 * ```
 *
 * @since 0.2.0
 * @category utils
 */
export const hostLabel = (address: HostAddress): string =>
  address.host.includes(":") ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`
