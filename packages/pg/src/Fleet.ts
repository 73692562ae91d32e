/**
 * A fleet for node-postgres code: `createFleet` opens a writer pool and one
 * pool per replica, probes every host in the background, and hands out
 * `pg.Pool`s that route each query: `writerPool` to the primary (following a
 * promotion), `readerPool` to a healthy replica, retried once elsewhere when
 * its host fails. drizzle, Kysely, `@prisma/adapter-pg` and plain `pg` take
 * them as they take any `pg.Pool`.
 *
 * @example
 * ```ts
 * import { Fleet } from "@pgfleet/pg"
 *
 * export const start = async () => {
 *   const fleet = await Fleet.createFleet(process.env)
 *   const { rows } = await fleet.readerPool.query("SELECT now() AS now") // a healthy replica
 *   await fleet.writerPool.query("INSERT INTO events (at) VALUES ($1)", [rows[0].now])
 *   await fleet.close()
 * }
 * ```
 *
 * @since 0.2.0
 */
import type { HostState } from "@pgfleet/core"
import { Fleet as EffectFleet } from "@pgfleet/postgres"
import type pg from "pg"

/**
 * What `stats()` says of one host.
 *
 * @since 0.2.0
 * @category models
 */
export type HostStats = HostState.HostStats

/**
 * An open fleet.
 *
 * @since 0.2.0
 * @category models
 */
export interface Fleet {
  /** The fleet's name (`DB_FLEET_NAME`, or the prefix in lower case), as `stats`, spans, logs and metrics give it. */
  readonly name: string
  /** The primary, as a node-postgres `Pool`. */
  readonly writerPool: pg.Pool
  /**
   * Reads as a node-postgres `Pool`: each `query` goes to a healthy replica
   * and is tried once more elsewhere after a connection failure; `connect()`
   * pins one healthy replica for that client's life.
   */
  readonly readerPool: pg.Pool
  /** One `Pool` per replica, in `DB_READER_HOSTS` order, each on that replica alone. */
  readonly readerPools: ReadonlyArray<pg.Pool>
  /** One of `readerPools` at random, as the original module's `get_random_reader_connection_pool`. */
  readonly randomReaderPool: () => pg.Pool
  /** Every host: pool counts, health, role, lag. */
  readonly stats: () => Promise<ReadonlyArray<HostStats>>
  /** Checks out `DB_MIN_POOL_SIZE` connections on every pool at once and releases them. */
  readonly warmUp: () => Promise<void>
  /** Closes every pool, bounded by `DB_POOL_CLOSE_GRACE_MS`; no connection stays open. Later calls do nothing. */
  readonly close: () => Promise<void>
}

/**
 * How to read a fleet from the environment: `prefix` (e.g. `ORDERS`) reads
 * `ORDERS_DB_*` and names the fleet `orders`, so one environment configures
 * several fleets.
 *
 * @since 0.2.0
 * @category models
 */
export interface FleetOptions {
  readonly prefix?: string | undefined
  /**
   * The password, asked for each new connection (or once per
   * `DB_PASSWORD_CACHE_SECONDS`): an IAM token or a secret manager's value,
   * instead of `DB_PASSWORD` in the environment. A login refused after a
   * rotation asks it once more before anything fails.
   */
  readonly passwordProvider?: (() => Promise<string>) | undefined
}

/**
 * Opens a fleet from `DB_*` variables (as in `process.env`), or from
 * `ORDERS_DB_*` with `{ prefix: "ORDERS" }`: every pool open, warmed and
 * role-checked. Rejects with an error naming each bad variable (prefix
 * included), or with a `PostgresError` (`reason`, `host`) when a host
 * cannot be used.
 *
 * @example
 * ```ts
 * import { Fleet } from "@pgfleet/pg"
 * import { drizzle } from "drizzle-orm/node-postgres"
 *
 * export const makeDb = async () => {
 *   const fleet = await Fleet.createFleet(process.env)
 *   return { fleet, db: drizzle(fleet.writerPool), reads: drizzle(fleet.readerPool) }
 * }
 *
 * // Two fleets from one environment: ORDERS_DB_WRITER_HOST, ..., ANALYTICS_DB_WRITER_HOST, ...
 * export const openBoth = () =>
 *   Promise.all([
 *     Fleet.createFleet(process.env, { prefix: "ORDERS" }),
 *     Fleet.createFleet(process.env, { prefix: "ANALYTICS" })
 *   ])
 *
 * // No DB_PASSWORD: a token asked for each new connection (an RDS IAM signer, a secret manager).
 * const signToken = async (): Promise<string> => "a-fresh-token" // your signer, here a stand-in
 * export const openWithTokens = () => Fleet.createFleet(process.env, { passwordProvider: signToken })
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const createFleet = async (
  env: Readonly<Record<string, string | undefined>>,
  options: FleetOptions = {}
): Promise<Fleet> => {
  const fleet = await EffectFleet.createFleet(env, options)
  return {
    name: fleet.name,
    writerPool: fleet.writerPool,
    readerPool: fleet.readerPool,
    readerPools: fleet.readerPools,
    randomReaderPool: fleet.randomReaderPool,
    stats: fleet.stats satisfies () => Promise<ReadonlyArray<HostStats>>,
    warmUp: fleet.warmUp,
    close: fleet.close
  }
}
