/**
 * The original Python module's functions, for code migrating from it:
 * `get_async_writer_connection_pool(env)` is `getWriterPool(env)`, and so on.
 * One fleet is opened per distinct set of `DB_*` variables and cached; no
 * other state is kept, and `cleanupPools()` closes and forgets them all.
 * Each function takes `{ prefix: "ORDERS" }` to use the fleet of the
 * `ORDERS_DB_*` variables instead, cached apart.
 * New code should hold a `Fleet.createFleet(...)` (or `PostgresLive`) itself.
 *
 * @example
 * ```ts
 * import { Legacy } from "@pgfleet/postgres"
 *
 * export const handler = async () => {
 *   const writer = await Legacy.getWriterPool(process.env)
 *   const reader = await Legacy.getRandomReaderPool(process.env)
 *   await writer.query("UPDATE jobs SET seen = now()")
 *   return (await reader.query("SELECT count(*) FROM jobs")).rows
 * }
 * ```
 *
 * @since 0.1.0
 */
import { Settings } from "@pgfleet/core"
import { createHash } from "node:crypto"
import type pg from "pg"
import type { Fleet, FleetOptions } from "./Fleet.js"
import { createFleet } from "./Fleet.js"

type Env = Readonly<Record<string, string | undefined>>

/**
 * The one cache: a fleet per prefix and distinct set of its variables, keyed by their hash (no password is kept
 * as a key).
 */
const fleets = new Map<string, Promise<Fleet>>()

const keyOf = (env: Env, prefix: string | undefined) => {
  const start = Settings.prefixed(prefix, "DB_")
  return createHash("sha256")
    .update(
      JSON.stringify([start, Object.entries(env).filter(([k, v]) => k.startsWith(start) && v !== undefined).sort()])
    )
    .digest("hex")
}

/**
 * The fleet for `env` (`ORDERS_DB_*` with `{ prefix: "ORDERS" }`), opened on first use and cached.
 *
 * @since 0.1.0
 * @category constructors
 */
export const getFleet = (env: Env, options: FleetOptions = {}): Promise<Fleet> => {
  const key = keyOf(env, options.prefix)
  let fleet = fleets.get(key)
  if (fleet === undefined) {
    fleet = createFleet(env, options)
    fleets.set(key, fleet)
    // A fleet that could not open is not cached: the next call tries again.
    fleet.catch(() => fleets.delete(key))
  }
  return fleet
}

/**
 * The writer's pool (`get_async_writer_connection_pool`).
 *
 * @since 0.1.0
 * @category getters
 */
export const getWriterPool = async (env: Env, options?: FleetOptions): Promise<pg.Pool> =>
  (await getFleet(env, options)).writerPool

/**
 * One pool per replica (`get_async_readers_connection_pools`).
 *
 * @since 0.1.0
 * @category getters
 */
export const getReaderPools = async (env: Env, options?: FleetOptions): Promise<ReadonlyArray<pg.Pool>> =>
  (await getFleet(env, options)).readerPools

/**
 * A replica's pool at random (`get_random_reader_connection_pool`); with no
 * replicas, the writer's. Prefer `getFleet(env).readerPool`, which also
 * skips replicas that are down.
 *
 * @since 0.1.0
 * @category getters
 */
export const getRandomReaderPool = async (env: Env, options?: FleetOptions): Promise<pg.Pool> =>
  (await getFleet(env, options)).randomReaderPool()

/**
 * Opens (if needed) and warms every pool (`warm_up_connections_pools`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const warmUpPools = async (env: Env, options?: FleetOptions): Promise<void> =>
  (await getFleet(env, options)).warmUp()

/**
 * Closes every cached fleet and empties the cache (`cleanup_connections_pools`).
 *
 * @since 0.1.0
 * @category destructors
 */
export const cleanupPools = async (): Promise<void> => {
  const open = [...fleets.values()]
  fleets.clear()
  await Promise.all(open.map((fleet) => fleet.then((f) => f.close(), () => undefined)))
}
