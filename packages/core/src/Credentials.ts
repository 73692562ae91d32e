/**
 * Passwords that change while a fleet runs: a file rewritten by a secret
 * manager (`DB_PASSWORD_FILE`), or a provider that hands out short-lived
 * tokens (RDS, Cloud SQL and Azure IAM). node-postgres asks for the password
 * when a new connection logs in, so each new connection gets the current
 * one and rotating it needs no restart. A login refused (28P01, 28000) asks
 * the source once more, past its cache, before anyone doubts the host.
 *
 * @since 0.2.0
 */
import * as fs from "node:fs"
import type pg from "pg"
import type { PasswordProvider } from "./Settings.js"
import { passwordInFile, Secret } from "./Settings.js"

/**
 * Where a changing password comes from, as node-postgres uses it.
 *
 * @example
 * ```ts
 * import { Credentials } from "@pgfleet/core"
 * import pg from "pg"
 *
 * const source = Credentials.fromFile("/run/secrets/db-password", 0)
 * const client = new pg.Client({ host: "db", user: "app", password: source.password })
 * ```
 *
 * @since 0.2.0
 * @category models
 */
export interface Source {
  /** The password for a new connection: cached, or asked of the source. Give it to pg as `password`. */
  readonly password: () => Promise<string>
  /** The password last obtained, for what must have one at once (a connection URL); `undefined` before the first. */
  readonly latest: () => string | undefined
  /**
   * A login that began at `since` (`performance.now()`) was refused: unless
   * the source was asked again since then, the next {@link Source.password}
   * asks it anew, past the cache. Concurrent refusals ask once.
   */
  readonly refused: (since: number) => void
}

/**
 * What a program gives in code: a function called for a new password (an
 * IAM token, a secret manager's value). The same as `Settings.PasswordProvider`.
 *
 * @example
 * ```ts
 * import type { Credentials } from "@pgfleet/core"
 *
 * const provider: Credentials.Provider = async () => (await fetch("http://vault.internal/db")).text()
 * ```
 *
 * @since 0.2.0
 * @category models
 */
export type Provider = PasswordProvider

/** One ask of the source, shared by every connection that needs a password meanwhile. */
interface Entry {
  readonly startedAt: number
  readonly value: Promise<string>
  /** When the cached value stops serving; `Infinity` while the ask is under way. */
  expiresAt: number
}

/**
 * A source over `fetch`, its answer kept `cacheMs` (`0`: asked for each new
 * connection). Connections that need a password while an ask is under way
 * share it, so a pool warming ten connections asks once. A failed ask is not
 * kept.
 *
 * @example
 * ```ts
 * import { Credentials } from "@pgfleet/core"
 *
 * const source = Credentials.cached(async () => "token", 5 * 60_000)
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const cached = (fetch: () => Promise<string>, cacheMs: number): Source => {
  let entry: Entry | undefined
  let latest: string | undefined
  let lastBypass = -Infinity
  const ask = (): Promise<string> => {
    const now = performance.now()
    if (entry !== undefined && now < entry.expiresAt) return entry.value
    const e: Entry = {
      startedAt: now,
      expiresAt: Infinity,
      value: fetch().then(
        (password) => {
          e.expiresAt = performance.now() + cacheMs
          latest = password
          return password
        },
        (error: unknown) => {
          if (entry === e) entry = undefined
          throw error
        }
      )
    }
    entry = e
    return e.value
  }
  return {
    password: ask,
    latest: () => latest,
    refused: (since) => {
      // Another refusal already bypassed the cache after this login began: its answer is the one to try.
      if (lastBypass >= since) return
      lastBypass = performance.now()
      entry = undefined
    }
  }
}

/**
 * The password in a file, read when a new connection needs it (or once per
 * `cacheMs`), so a rewritten file takes effect without a restart. Trailing
 * line breaks are dropped. An unreadable or empty file fails the connection
 * with an error naming `variable` and the path, never the contents.
 *
 * @example
 * ```ts
 * import { Credentials } from "@pgfleet/core"
 *
 * const source = Credentials.fromFile("/run/secrets/db-password", 0, "DB_PASSWORD_FILE")
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const fromFile = (path: string, cacheMs: number, variable = "DB_PASSWORD_FILE"): Source =>
  cached(async () => {
    let text: string
    try {
      text = await fs.promises.readFile(path, "utf8")
    } catch (e) {
      throw new Error(`${variable}: could not read ${path}: ${(e as Error).message}`)
    }
    const password = passwordInFile(text)
    if (password === "") throw new Error(`${variable}: ${path} is empty`)
    return password
  }, cacheMs)

/**
 * A provider's password for each new connection (or once per `cacheMs`). A
 * provider that throws fails the connection with `pgfleet: the password
 * provider failed`, its error as the cause.
 *
 * @example
 * ```ts
 * import { Credentials } from "@pgfleet/core"
 *
 * const source = Credentials.fromProvider(async () => "token", 10 * 60_000)
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const fromProvider = (provider: Provider, cacheMs: number): Source =>
  cached(async () => {
    let given: string | Secret
    try {
      given = await provider()
    } catch (cause) {
      throw new Error(`pgfleet: the password provider failed: ${(cause as Error)?.message ?? String(cause)}`, { cause })
    }
    const password = given instanceof Secret ? given.value() : given
    if (typeof password !== "string" || password === "") {
      throw new Error("pgfleet: the password provider gave no password (expected a non-empty string or Secret)")
    }
    return password
  }, cacheMs)

const REFUSED = new Set(["28P01", "28000"])

/**
 * Whether the server refused the login: 28P01 (`invalid_password`) or 28000
 * (`invalid_authorization_specification`), anywhere in the cause chain.
 *
 * @example
 * ```ts
 * import { Credentials } from "@pgfleet/core"
 *
 * Credentials.isLoginRefused(Object.assign(new Error("password authentication failed"), { code: "28P01" })) // true
 * ```
 *
 * @since 0.2.0
 * @category predicates
 */
export const isLoginRefused = (error: unknown): boolean => {
  for (let e = error, depth = 0; e !== undefined && e !== null && depth < 8; depth++) {
    const code = (e as { code?: unknown }).code
    if (typeof code === "string" && REFUSED.has(code)) return true
    e = (e as { cause?: unknown }).cause
  }
  return false
}

/**
 * Runs `open`, which opens one new connection; when its login is refused
 * and the password comes from a `source`, asks the source again (past its
 * cache) and runs `open` once more. With no source (a fixed password) it is
 * `open` alone.
 *
 * @example
 * ```ts
 * import { Credentials } from "@pgfleet/core"
 * import pg from "pg"
 *
 * const source = Credentials.fromFile("/run/secrets/db-password", 0)
 * export const connect = () =>
 *   Credentials.retryRefused(source, async () => {
 *     const client = new pg.Client({ host: "db", user: "app", password: source.password })
 *     await client.connect()
 *     return client
 *   })
 * ```
 *
 * @since 0.2.0
 * @category utils
 */
export const retryRefused = async <A>(source: Source | undefined, open: () => Promise<A>): Promise<A> => {
  if (source === undefined) return open()
  const since = performance.now()
  try {
    return await open()
  } catch (error) {
    if (!isLoginRefused(error)) throw error
    source.refused(since)
  }
  return open()
}

type ConnectCallback = (error: Error | undefined, client: pg.PoolClient | undefined, done: () => void) => void

/**
 * Makes `pool.connect` (and so `pool.query`, which checks out through it)
 * try a refused login once more with the source asked again, so a rotated
 * password costs no caller an error. Only new connections log in; a
 * checkout of an idle one never reaches the retry.
 *
 * @example
 * ```ts
 * import { Credentials } from "@pgfleet/core"
 * import pg from "pg"
 *
 * const source = Credentials.fromFile("/run/secrets/db-password", 0)
 * const pool = new pg.Pool({ host: "db", user: "app", password: source.password })
 * Credentials.retryRefusedLogins(pool, source)
 * ```
 *
 * @since 0.2.0
 * @category utils
 */
export const retryRefusedLogins = (pool: pg.Pool, source: Source): void => {
  const connect = (pool.connect as unknown as (callback: ConnectCallback) => void).bind(pool)
  const retrying = (callback?: ConnectCallback): Promise<pg.PoolClient> | undefined => {
    if (callback === undefined) {
      return new Promise((resolve, reject) => {
        retrying((error, client) => error ? reject(error) : resolve(client!))
      })
    }
    const since = performance.now()
    connect((error, client, done) => {
      if (error === undefined || error === null || !isLoginRefused(error)) return callback(error, client, done)
      source.refused(since)
      connect(callback)
    })
    return undefined
  }
  ;(pool as unknown as { connect: typeof retrying }).connect = retrying
}
