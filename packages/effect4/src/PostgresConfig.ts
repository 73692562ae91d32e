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
import * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"

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

type Table = typeof Core.settings
/**
 * A password that changes, given in code as `passwordProvider`: an `Effect`
 * giving it as `Redacted` (an IAM token, a secret manager's value), run for
 * each new connection or once per `passwordCacheTime`, or an async function.
 * It must need no service: provide what it needs before giving it.
 *
 * @example
 * ```ts
 * import { Effect, Redacted } from "effect"
 * import type { PostgresConfig } from "@pgfleet/effect4"
 *
 * // e.g. an IAM token signed for each new connection.
 * const signToken = async () => `token-${Date.now()}`
 * export const provider: PostgresConfig.PasswordProvider = Effect.promise(signToken).pipe(Effect.map(Redacted.make))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type PasswordProvider = Effect.Effect<Redacted.Redacted<string>, unknown> | Core.PasswordProvider

type InOf<S extends Core.Setting<any, any, any, any>> = S["kind"] extends "duration" ? Duration.Input
  : S["kind"] extends "secret" ? Redacted.Redacted<string> | string
  : S["kind"] extends "provider" ? PasswordProvider
  : Core.InOf<S>
type OutOf<S extends Core.Setting<any, any, any, any>> = S["kind"] extends "duration" ? Duration.Duration
  : S["kind"] extends "secret" ? Redacted.Redacted<string>
  : Core.OutOf<S>
type RequiredKeys = { [K in keyof Table]: Table[K]["required"] extends true ? K : never }[keyof Table]

const entries = Object.entries(Core.settings) as ReadonlyArray<[keyof Table, Core.Setting<unknown, unknown>]>

/**
 * What a program may give in code: the connection essentials, and any
 * setting it wants to change from the defaults. Derived from core's table.
 *
 * @since 0.1.0
 * @category models
 */
export type PostgresSettingsInput =
  & { readonly [K in RequiredKeys]: InOf<Table[K]> }
  & { readonly [K in Exclude<keyof Table, RequiredKeys>]?: InOf<Table[K]> | undefined }

/**
 * Validated settings: every entry of core's table checked, plus the resolved
 * hosts and the CA file's contents. Build them with {@link make} or read them
 * with {@link fromEnv}.
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

/** One `ConfigError` naming every variable at fault; v4's `ConfigError` wraps a `SourceError` with that text. */
const invalid = (issues: ReadonlyArray<{ readonly variable: string; readonly expected: string }>) =>
  new Config.ConfigError(
    new ConfigProvider.SourceError({
      message: issues.map((issue) => `${issue.variable}: expected ${issue.expected}`).join("; ")
    })
  )

/** A finite duration as core's milliseconds; anything else stays as given, so core's check names it as given. */
const durationIn = (value: unknown): unknown => {
  const decoded = Duration.fromInput(value as Duration.Input)
  return Option.isSome(decoded) && Duration.isFinite(decoded.value) ? Duration.toMillis(decoded.value) : value
}

const secretIn = (value: unknown): unknown =>
  Redacted.isRedacted(value) ? new Core.Secret(Redacted.value(value as Redacted.Redacted<string>)) : value

/** A provider in core's terms: an Effect run for each call, its failure the rejection; anything else as given. */
const providerIn = (value: unknown): unknown =>
  Effect.isEffect(value)
    ? () =>
      Effect.runPromiseExit(value as Effect.Effect<Redacted.Redacted<string>, unknown>).then((exit) => {
        if (Exit.isSuccess(exit)) return Redacted.value(exit.value)
        throw Cause.squash(exit.cause)
      })
    : value

/**
 * Fills in defaults and validates. Fails with every problem found, each
 * naming its `DB_*` variable.
 *
 * @example
 * ```ts
 * import { Redacted } from "effect"
 * import { PostgresConfig } from "@pgfleet/effect4"
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
export const make = (input: PostgresSettingsInput): Effect.Effect<PostgresSettings, Config.ConfigError> =>
  makeUnder(input, undefined)

/** {@link make}, its errors naming the variables as read under `prefix`. */
const makeUnder = (
  input: PostgresSettingsInput,
  prefix: string | undefined
): Effect.Effect<PostgresSettings, Config.ConfigError> =>
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
    const result = Core.validate(coreInput as Core.SettingsInput, { drivers: ["node-postgres", "sql-pg"] })
    if (result._tag === "Invalid") return Effect.fail(invalid(Core.withPrefix(result.issues, prefix)))
    const out: Record<string, unknown> = { ...result.settings }
    for (const [key, spec] of entries) {
      const value = given[key]
      if (spec.kind === "duration") {
        // As given when given (core accepted it, so it decodes), else core's default.
        out[key] = value == null
          ? Duration.millis(out[key] as number)
          : Duration.fromInputUnsafe(value as Duration.Input)
      } else if (spec.kind === "secret" && out[key] !== undefined) {
        // Absent when the password comes from DB_PASSWORD_FILE or passwordProvider.
        out[key] = Redacted.isRedacted(value) ? value : Redacted.make((out[key] as Core.Secret).value())
      }
    }
    return Effect.succeed(out as unknown as PostgresSettings)
  })

/** One variable, parsed by core; a duration stays core's milliseconds here and becomes a `Duration` in `make`. */
const reader = (spec: Core.Setting<unknown, unknown>, prefix: string | undefined): Config.Config<unknown> => {
  if (spec.variable === undefined) return Config.succeed(undefined)
  const variable = Core.prefixed(prefix, spec.variable)
  const raw = spec.kind === "secret" ? Config.map(Config.Redacted(variable), Redacted.value) : Config.String(variable)
  const present = spec.required ? Config.map(raw, Option.some) : Config.option(raw)
  return Config.mapEffect(present, (o) => {
    if (o._tag === "None") return Effect.succeed(undefined)
    const parsed = spec.parse(o.value)
    if (parsed instanceof Core.Rejected) return Effect.fail(invalid([{ variable, expected: parsed.expected }]))
    return Effect.succeed(
      spec.kind === "secret" ? Redacted.make((parsed as Core.Secret).value()) : parsed
    )
  })
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
 * import { PostgresConfig } from "@pgfleet/effect4"
 *
 * const settings = Effect.gen(function*() {
 *   return yield* PostgresConfig.fromEnv
 * }).pipe(
 *   Effect.provide(ConfigProvider.layer(ConfigProvider.fromUnknown({
 *     DB_WRITER_HOST: "localhost",
 *     DB_USERNAME: "app",
 *     DB_PASSWORD: "x"
 *   })))
 * )
 * ```
 *
 * @since 0.1.0
 * @category config
 */
export const fromEnv: Config.Config<PostgresSettings> = Config.mapEffect(inputFromEnv, make)

/**
 * The validated settings of one fleet among several in one environment:
 * `fromEnvPrefixed("ORDERS")` reads `ORDERS_DB_WRITER_HOST`,
 * `ORDERS_DB_USERNAME` and so on, and names the fleet `orders` unless
 * `ORDERS_DB_FLEET_NAME` is set. Every error names the prefixed variable.
 *
 * @example
 * ```ts
 * import { ConfigProvider, Effect } from "effect"
 * import { PostgresConfig } from "@pgfleet/effect4"
 *
 * const orders = Effect.gen(function*() {
 *   return yield* PostgresConfig.fromEnvPrefixed("ORDERS")
 * }).pipe(
 *   Effect.provide(ConfigProvider.layer(ConfigProvider.fromUnknown({
 *     ORDERS_DB_WRITER_HOST: "orders-db",
 *     ORDERS_DB_USERNAME: "app",
 *     ORDERS_DB_PASSWORD: "x"
 *   })))
 * ) // settings.fleetName === "orders"
 * ```
 *
 * @since 0.1.0
 * @category config
 */
export const fromEnvPrefixed = (prefix: string): Config.Config<PostgresSettings> =>
  Config.mapEffect(inputUnder(prefix), (input) => makeUnder(input, prefix))

/**
 * A variable under a prefix: `prefixed("ORDERS", "DB_PORT")` is
 * `ORDERS_DB_PORT`, the name {@link fromEnvPrefixed} reads; no prefix gives
 * the variable itself.
 *
 * @example
 * ```ts
 * import { PostgresConfig } from "@pgfleet/effect4"
 *
 * const variable = PostgresConfig.prefixed("ORDERS", "DB_WRITER_HOST") // "ORDERS_DB_WRITER_HOST"
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const prefixed: (prefix: string | undefined, variable: string) => string = Core.prefixed

/**
 * The README's configuration table, rendered from core's settings table.
 *
 * @since 0.1.0
 * @category utils
 */
export const markdownTable: () => string = Core.markdownTable

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
  extends Context.Service<PostgresConfig, PostgresSettings>()("@pgfleet/effect4/PostgresConfig")
{}

/**
 * Settings given in code.
 *
 * @example
 * ```ts
 * import { PostgresConfig } from "@pgfleet/effect4"
 *
 * const SettingsLive = PostgresConfig.layer({ writerHosts: ["localhost"], username: "app", password: "secret" })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (input: PostgresSettingsInput): Layer.Layer<PostgresConfig, Config.ConfigError> =>
  Layer.effect(PostgresConfig, make(input))

/**
 * Settings from any `Config`, e.g. {@link fromEnv} or a `Config` of your own.
 *
 * @example
 * ```ts
 * import { PostgresConfig } from "@pgfleet/effect4"
 *
 * const SettingsLive = PostgresConfig.layerConfig(PostgresConfig.fromEnv)
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  config: Config.Config<PostgresSettings>
): Layer.Layer<PostgresConfig, Config.ConfigError> =>
  Layer.effect(
    PostgresConfig,
    Effect.gen(function*() {
      return yield* config
    })
  )
