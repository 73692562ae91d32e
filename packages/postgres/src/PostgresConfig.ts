/**
 * Settings for a pgfleet fleet, read from `DB_*` variables or given in code.
 * Every value is validated before anything connects; a bad value fails with a
 * `ConfigError` that names its variable and says what was expected.
 *
 * The settings themselves are declared and checked in `@pgfleet/core`'s
 * `Settings`; this module gives them Effect's types (durations as `Duration`,
 * the password as `Redacted`) and reads them through `Config`.
 *
 * @since 0.1.0
 */
import { Settings as Core } from "@pgfleet/core"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { providerToCore } from "./internal/passwordProvider.js"

/**
 * @since 0.1.0
 * @category models
 */
export type HostAddress = Core.HostAddress

/**
 * @since 0.1.0
 * @category models
 */
export type ReaderStrategyName = Core.Settings["readerStrategy"]

/**
 * `disable`: plain TCP. `require`: TLS without certificate checks.
 * `verify-full`: TLS, the certificate must chain to `DB_SSL_CA_FILE` (or the
 * system roots) and match the host name.
 *
 * @since 0.1.0
 * @category models
 */
export type SslMode = Core.Settings["ssl"]

/**
 * `startup` sends `statement_timeout` in the connection's startup packet.
 * `set` runs `SET statement_timeout` on each new connection instead (a
 * session setting: it holds on a direct or session-pooled connection only).
 * `verify` sets nothing: the server does (`ALTER ROLE … SET
 * statement_timeout`), and each pool checks at open, through its host, that
 * its connections run under `DB_STATEMENT_TIMEOUT_MS`; use it behind a
 * transaction-pooling PgBouncer.
 *
 * @since 0.1.0
 * @category models
 */
export type StatementTimeoutMode = Core.Settings["statementTimeoutMode"]

/**
 * One setting, declared once in `@pgfleet/core`'s `Settings.settings`: its
 * variable, default, parser, check and description, here with Effect's types.
 * The `Config` reader, the code-side input type, the validation and the
 * README's table all derive from {@link settings}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Setting<In, Out, Required extends boolean = boolean> extends Core.Setting<In, Out, Required> {
  /** Secrets are read as `Redacted` and never shown. */
  readonly secret?: boolean
}

/**
 * A password that changes, given in code as `passwordProvider`: an `Effect`
 * giving it as `Redacted` (an IAM token, a secret manager's value), run for
 * each new connection or once per `passwordCacheTime`; or, for code outside
 * Effect (`createFleet`), an async function. It must need no service:
 * provide what it needs before giving it.
 *
 * @example
 * ```ts
 * import { Effect, Redacted } from "effect"
 * import type { PostgresConfig } from "@pgfleet/postgres"
 *
 * // Your cloud's token signer (RDS, Cloud SQL, Azure AD); here a stand-in.
 * const signToken = async (): Promise<string> => "a-fresh-token"
 * const provider: PostgresConfig.PasswordProvider = Effect.tryPromise(signToken).pipe(Effect.map(Redacted.make))
 * ```
 *
 * @since 0.2.0
 * @category models
 */
export type PasswordProvider =
  | Effect.Effect<Redacted.Redacted, unknown>
  | (() => Promise<string | Redacted.Redacted>)

type Table = typeof Core.settings
type InOf<S extends Core.Setting<any, any, any, any>> = S["kind"] extends "duration" ? Duration.DurationInput
  : S["kind"] extends "secret" ? Redacted.Redacted | string
  : S["kind"] extends "provider" ? PasswordProvider
  : Core.InOf<S>
type OutOf<S extends Core.Setting<any, any, any, any>> = S["kind"] extends "duration" ? Duration.Duration
  : S["kind"] extends "secret" ? Redacted.Redacted
  : S["kind"] extends "provider" ? Effect.Effect<Redacted.Redacted, unknown>
  : Core.OutOf<S>
type Settings = { readonly [K in keyof Table]: Setting<InOf<Table[K]>, OutOf<Table[K]>, Table[K]["required"]> }
type RequiredKeys = { [K in keyof Table]: Table[K]["required"] extends true ? K : never }[keyof Table]

/** A finite duration as core's milliseconds; anything else stays as given, so core's check names it as given. */
const durationIn = (value: unknown): unknown => {
  const decoded = Duration.decodeUnknown(value)
  return Option.isSome(decoded) && Duration.isFinite(decoded.value) ? Duration.toMillis(decoded.value) : value
}

const secretIn = (value: unknown): unknown =>
  Redacted.isRedacted(value) ? new Core.Secret(Redacted.value(value as Redacted.Redacted<string>)) : value

/** A provider as an Effect (an async function wrapped); anything else as given, for core's check to name. */
const providerEffect = (value: unknown): unknown => {
  if (Effect.isEffect(value)) return value
  if (typeof value !== "function") return value
  return Effect.tryPromise(() => (value as () => Promise<string | Redacted.Redacted>)()).pipe(
    Effect.map((p) => Redacted.isRedacted(p) ? p as Redacted.Redacted : Redacted.make(p))
  )
}

/** A provider in core's terms: a function giving the password, the Effect run for each call. */
const providerIn = (value: unknown): unknown => {
  const effect = providerEffect(value)
  return Effect.isEffect(effect) ? providerToCore(effect as Effect.Effect<Redacted.Redacted, unknown>) : effect
}

const mapCheck = <A, B>(checked: Core.Check<A>, f: (a: A) => B): Core.Check<B> =>
  checked instanceof Core.Rejected ? checked : f(checked)

/** A core setting with Effect's types: kinds `duration` and `secret` convert, the rest are core's own. */
const withEffectTypes = (spec: Core.Setting<unknown, unknown>): Setting<unknown, unknown> => {
  switch (spec.kind) {
    case "duration":
      return {
        ...spec,
        default: spec.default === undefined ? undefined : Duration.millis(spec.default as number),
        parse: (text) => mapCheck(spec.parse(text), (ms) => Duration.millis(ms as number)),
        // Keeps the duration as given; core only judges its length.
        check: (value) =>
          mapCheck(spec.check(durationIn(value)), () => Duration.decode(value as Duration.DurationInput))
      }
    case "secret":
      return {
        ...spec,
        secret: true,
        parse: (text) => mapCheck(spec.parse(text), (s) => Redacted.make((s as Core.Secret).value())),
        check: (value) =>
          mapCheck(
            spec.check(secretIn(value)),
            (s) => Redacted.isRedacted(value) ? value : Redacted.make((s as Core.Secret).value())
          )
      }
    case "provider":
      return { ...spec, check: (value) => mapCheck(spec.check(providerIn(value)), () => providerEffect(value)) }
    default:
      return spec
  }
}

/**
 * Every setting pgfleet reads, keyed by its name in code: `@pgfleet/core`'s
 * table with Effect's types. The README's configuration table is
 * {@link markdownTable} of this, checked by a test.
 *
 * @since 0.1.0
 * @category constants
 */
export const settings: Settings = Object.fromEntries(
  Object.entries(Core.settings).map(([key, spec]) => [key, withEffectTypes(spec as Core.Setting<unknown, unknown>)])
) as unknown as Settings

const entries = Object.entries(settings) as ReadonlyArray<[keyof Table, Setting<unknown, unknown>]>

/**
 * What a program may give in code: the connection essentials, and any
 * setting it wants to change from the defaults. Derived from {@link settings}.
 *
 * @since 0.1.0
 * @category models
 */
export type PostgresSettingsInput =
  & { readonly [K in RequiredKeys]: InOf<Table[K]> }
  & { readonly [K in Exclude<keyof Table, RequiredKeys>]?: InOf<Table[K]> | undefined }

/**
 * Validated settings: every entry of {@link settings} checked, plus the
 * resolved hosts and the CA file's contents. Build them with {@link make}
 * or read them with {@link fromEnv}.
 *
 * @since 0.1.0
 * @category models
 */
export type PostgresSettings = { readonly [K in keyof Table]: OutOf<Table[K]> } & Core.Resolved

/**
 * The environment variable behind each setting, used to name it in errors.
 *
 * @since 0.1.0
 * @category constants
 */
export const variables: { readonly [K in keyof Table]: Table[K]["variable"] } = Core.variables

const invalid = (issues: ReadonlyArray<Core.Issue>, prefix?: string): ConfigError.ConfigError =>
  Core.withPrefix(issues, prefix)
    .map((issue) => ConfigError.InvalidData([issue.variable], `expected ${issue.expected}`))
    .reduce((acc, e) => ConfigError.And(acc, e))

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
  makeUnder(input, undefined)

/** {@link make}, its errors naming the variables as read under `prefix`. */
const makeUnder = (
  input: PostgresSettingsInput,
  prefix: string | undefined
): Effect.Effect<PostgresSettings, ConfigError.ConfigError> =>
  Effect.suspend(() => {
    const given = input as Record<string, unknown>
    const coreInput: Record<string, unknown> = { ...given }
    for (const [key, spec] of entries) {
      const value = given[key]
      if (value == null) continue
      if (spec.kind === "duration") coreInput[key] = durationIn(value)
      else if (spec.kind === "secret") coreInput[key] = secretIn(value)
      else if (spec.kind === "provider") coreInput[key] = providerIn(value)
    }
    const result = Core.validate(coreInput as Core.SettingsInput)
    if (result._tag === "Invalid") return Effect.fail(invalid(result.issues, prefix))
    const out: Record<string, unknown> = { ...result.settings }
    for (const [key, spec] of entries) {
      const value = given[key]
      if (spec.kind === "duration") {
        // As given when given (core accepted it, so it decodes), else core's default.
        out[key] = value == null
          ? Duration.millis(out[key] as number)
          : Duration.decode(value as Duration.DurationInput)
      } else if (spec.kind === "secret" && out[key] !== undefined) {
        out[key] = Redacted.isRedacted(value) ? value : Redacted.make((out[key] as Core.Secret).value())
      } else if (spec.kind === "provider" && value != null) {
        out[key] = providerEffect(value)
      }
    }
    return Effect.succeed(out as unknown as PostgresSettings)
  })

const reader = <In>(spec: Setting<In, unknown>, prefix: string | undefined): Config.Config<In | undefined> => {
  if (spec.variable === undefined) return Config.succeed(undefined)
  const variable = Core.prefixed(prefix, spec.variable)
  const raw = spec.secret
    ? Config.map(Config.redacted(variable), (r) => Redacted.value(r))
    : Config.string(variable)
  const present = spec.required ? Config.map(raw, Option.some) : Config.option(raw)
  return Config.withDescription(
    Config.mapOrFail(present, (o) => {
      if (o._tag === "None") return Either.right(undefined)
      const parsed = spec.parse(o.value)
      return parsed instanceof Core.Rejected
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
  Config.all(Object.fromEntries(entries.map(([key, spec]) => [key, reader(spec, undefined)]))),
  (values) => values as unknown as PostgresSettingsInput
)

/** The variables as read under `prefix`, the fleet named after the prefix unless its `DB_FLEET_NAME` is set. */
const inputUnder = (prefix: string): Config.Config<PostgresSettingsInput> =>
  Config.map(
    Config.all(Object.fromEntries(entries.map(([key, spec]) => [key, reader(spec, prefix)]))),
    (values): PostgresSettingsInput => ({
      ...values as unknown as PostgresSettingsInput,
      fleetName: values.fleetName as string | undefined ?? Core.defaultFleetName(prefix)
    })
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
 * The validated settings of one fleet among several in one environment:
 * `fromEnvPrefixed("ORDERS")` reads `ORDERS_DB_WRITER_HOST`,
 * `ORDERS_DB_USERNAME` and so on, and names the fleet `orders` unless
 * `ORDERS_DB_FLEET_NAME` is set. Every error names the prefixed variable.
 *
 * `Config.nested(fromEnv, "ORDERS")` reads the same variables from the
 * environment (Effect's default provider joins the path with `_`); there
 * the fleet is named `default` unless `ORDERS_DB_FLEET_NAME` is set, since a
 * `Config` cannot see the path it is read under, and errors name the
 * variable as Effect prints paths (`ORDERS.DB_WRITER_HOST`).
 *
 * @example
 * ```ts
 * import { ConfigProvider, Effect } from "effect"
 * import { PostgresConfig } from "@pgfleet/postgres"
 *
 * const orders = Effect.withConfigProvider(
 *   PostgresConfig.fromEnvPrefixed("ORDERS"),
 *   ConfigProvider.fromMap(
 *     new Map([["ORDERS_DB_WRITER_HOST", "orders-db"], ["ORDERS_DB_USERNAME", "app"], ["ORDERS_DB_PASSWORD", "x"]])
 *   )
 * ) // settings.fleetName === "orders"
 * ```
 *
 * @since 0.2.0
 * @category config
 */
export const fromEnvPrefixed = (prefix: string): Config.Config<PostgresSettings> =>
  Config.mapOrFail(inputUnder(prefix), (input) => Effect.runSync(Effect.either(makeUnder(input, prefix))))

/**
 * {@link fromEnv}, or {@link fromEnvPrefixed} with `prefix`, with what only
 * code can give added before validation: a `passwordProvider` (an IAM
 * token, a secret manager's value), so the environment needs no
 * `DB_PASSWORD`.
 *
 * @example
 * ```ts
 * import { Effect, Redacted } from "effect"
 * import { PostgresConfig } from "@pgfleet/postgres"
 *
 * const token = Effect.succeed(Redacted.make("a-fresh-token"))
 * const config = PostgresConfig.fromEnvWith({ prefix: "ORDERS", passwordProvider: token })
 * ```
 *
 * @since 0.2.0
 * @category config
 */
export const fromEnvWith = (options: {
  readonly prefix?: string | undefined
  readonly passwordProvider?: PasswordProvider | undefined
}): Config.Config<PostgresSettings> =>
  Config.mapOrFail(
    inputUnder(options.prefix ?? ""),
    (input) =>
      Effect.runSync(Effect.either(makeUnder(
        options.passwordProvider === undefined ? input : { ...input, passwordProvider: options.passwordProvider },
        options.prefix
      )))
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
export const markdownTable: () => string = Core.markdownTable

/**
 * A variable under a prefix: `prefixed("ORDERS", "DB_PORT")` is
 * `ORDERS_DB_PORT`, the name {@link fromEnvPrefixed} reads; no prefix gives
 * the variable itself.
 *
 * @example
 * ```ts
 * import { PostgresConfig } from "@pgfleet/postgres"
 *
 * const variable = PostgresConfig.prefixed("ORDERS", "DB_WRITER_HOST") // "ORDERS_DB_WRITER_HOST"
 * ```
 *
 * @since 0.2.0
 * @category utils
 */
export const prefixed: (prefix: string | undefined, variable: string) => string = Core.prefixed

/**
 * `host:port`, the name pgfleet uses for a host in errors, logs, spans and metrics.
 *
 * @since 0.1.0
 * @category utils
 */
export const hostLabel: (address: HostAddress) => string = Core.hostLabel

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
