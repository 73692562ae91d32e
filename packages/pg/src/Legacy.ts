/**
 * The original Python module's functions, for code migrating from it:
 * `get_async_writer_connection_pool(env)` is `getWriterPool(env)`, and so on.
 * One fleet is opened per distinct set of `DB_*` variables and cached;
 * `cleanupPools()` closes and forgets them all. Each function takes
 * `{ prefix: "ORDERS" }` to use the fleet of the `ORDERS_DB_*` variables.
 *
 * @example
 * ```ts
 * import { Legacy } from "@pgfleet/pg"
 *
 * export const handler = async () => {
 *   const writer = await Legacy.getWriterPool(process.env)
 *   const reader = await Legacy.getRandomReaderPool(process.env)
 *   await writer.query("UPDATE jobs SET seen = now()")
 *   return (await reader.query("SELECT count(*) FROM jobs")).rows
 * }
 * ```
 *
 * @since 0.2.0
 */
import { Legacy } from "@pgfleet/postgres"
import type pg from "pg"
import type { FleetOptions } from "./Fleet.js"

type Env = Readonly<Record<string, string | undefined>>

/**
 * The writer's pool (`get_async_writer_connection_pool`).
 *
 * @since 0.2.0
 * @category getters
 */
export const getWriterPool: (env: Env, options?: FleetOptions) => Promise<pg.Pool> = Legacy.getWriterPool

/**
 * One pool per replica (`get_reader_connection_pools`).
 *
 * @since 0.2.0
 * @category getters
 */
export const getReaderPools: (env: Env, options?: FleetOptions) => Promise<ReadonlyArray<pg.Pool>> =
  Legacy.getReaderPools

/**
 * One replica's pool at random (`get_random_reader_connection_pool`).
 *
 * @since 0.2.0
 * @category getters
 */
export const getRandomReaderPool: (env: Env, options?: FleetOptions) => Promise<pg.Pool> = Legacy.getRandomReaderPool

/**
 * Checks out `DB_MIN_POOL_SIZE` connections on every pool at once (`warm_up_connections_pools`).
 *
 * @since 0.2.0
 * @category utils
 */
export const warmUpPools: (env: Env, options?: FleetOptions) => Promise<void> = Legacy.warmUpPools

/**
 * Closes every cached fleet (`cleanup_connections_pools`).
 *
 * @since 0.2.0
 * @category utils
 */
export const cleanupPools: () => Promise<void> = Legacy.cleanupPools
