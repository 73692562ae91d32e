/**
 * PostgresConfig's settings in core's terms (durations in milliseconds, the
 * password a `Secret`), for the core functions that take them.
 */
import { Connection, Settings } from "@pgfleet/core"
import * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type pg from "pg"
import type { HostAddress, PostgresSettings } from "../PostgresConfig.js"
import { providerToCore } from "./passwordProvider.js"

// Per settings object: both are asked for on every new connection.
const cores = new WeakMap<PostgresSettings, Settings.Settings>()
const options = new WeakMap<PostgresSettings, Connection.ConnectionOptions>()

/** The settings in core's terms: durations in milliseconds, the password a `Secret`. */
export const toCore = (settings: PostgresSettings): Settings.Settings => {
  let core = cores.get(settings)
  if (core === undefined) {
    const out: Record<string, unknown> = { ...settings }
    for (const [key, spec] of Object.entries(Settings.settings)) {
      const value = out[key]
      if (value === undefined) continue
      if (spec.kind === "duration") out[key] = Duration.toMillis(value as Duration.Duration)
      else if (spec.kind === "secret") out[key] = new Settings.Secret(Redacted.value(value as Redacted.Redacted))
      else if (spec.kind === "provider") out[key] = providerToCore(value as Effect.Effect<Redacted.Redacted, unknown>)
    }
    core = out as unknown as Settings.Settings
    cores.set(settings, core)
  }
  return core
}

/** What every connection of these settings shares, for `Connection.clientConfig`. */
export const connectionOptions = (settings: PostgresSettings): Connection.ConnectionOptions => {
  let o = options.get(settings)
  if (o === undefined) {
    o = Connection.fromSettings(toCore(settings))
    options.set(settings, o)
  }
  return o
}

/** `pg.Client` options for one host. */
export const clientConfig = (settings: PostgresSettings, address: HostAddress): pg.ClientConfig =>
  Connection.clientConfig(connectionOptions(settings), address)

/** A `postgresql://` URL for one host, every byte of user, password and database percent-encoded. */
export const connectionUrl = (settings: PostgresSettings, address: HostAddress): Redacted.Redacted =>
  Redacted.make(Connection.connectionUrl(connectionOptions(settings), address))
