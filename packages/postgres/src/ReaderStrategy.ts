/**
 * How the router picks one replica among the usable ones. Provide your own
 * with `Layer.succeed(ReaderStrategy.ReaderStrategy, ...)`.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { PostgresLive, ReaderStrategy } from "@pgfleet/postgres"
 *
 * // Always the first healthy replica in DB_READER_HOSTS order.
 * const FirstHealthy = Layer.succeed(ReaderStrategy.ReaderStrategy, {
 *   name: "first-healthy",
 *   pick: (candidates) => candidates[0]!
 * })
 * const Live = PostgresLive.pipe(Layer.provide(FirstHealthy))
 * ```
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Layer from "effect/Layer"
import type { HostPool } from "./HostPool.js"
import type { ReaderStrategyName } from "./PostgresConfig.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Strategy {
  /** Shown in routing decisions, spans and logs. */
  readonly name: string
  /** Picks one of `candidates` (never empty): the healthy replicas, in configuration order. */
  readonly pick: (candidates: ReadonlyArray<HostPool>) => HostPool
}

/**
 * @since 0.1.0
 * @category tags
 */
export class ReaderStrategy extends Context.Tag("@pgfleet/postgres/ReaderStrategy")<ReaderStrategy, Strategy>() {}

/**
 * A uniformly random replica, as the module pgfleet replaces did.
 *
 * @since 0.1.0
 * @category constructors
 */
export const random = (): Strategy => ({
  name: "random",
  pick: (candidates) => candidates[Math.floor(Math.random() * candidates.length)]!
})

/**
 * Each replica in turn.
 *
 * @since 0.1.0
 * @category constructors
 */
export const roundRobin = (): Strategy => {
  let next = 0
  return {
    name: "round-robin",
    pick: (candidates) => candidates[next++ % candidates.length]!
  }
}

/**
 * The replica with the fewest connections in use plus callers waiting;
 * ties go round-robin so idle replicas share the load.
 *
 * @since 0.1.0
 * @category constructors
 */
export const leastConnections = (): Strategy => {
  let rotation = 0
  return {
    name: "least-connections",
    pick: (candidates) => {
      const start = rotation++ % candidates.length
      let best = candidates[start]!
      let bestLoad = Infinity
      for (let k = 0; k < candidates.length; k++) {
        const pool = candidates[(start + k) % candidates.length]!
        const { inUse, waiting } = pool.counts()
        if (inUse + waiting < bestLoad) {
          best = pool
          bestLoad = inUse + waiting
        }
      }
      return best
    }
  }
}

/**
 * The built-in strategy for a `DB_READER_STRATEGY` value.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromName = (name: ReaderStrategyName): Strategy => {
  switch (name) {
    case "random":
      return random()
    case "round-robin":
      return roundRobin()
    case "least-connections":
      return leastConnections()
  }
}

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (strategy: Strategy): Layer.Layer<ReaderStrategy> => Layer.succeed(ReaderStrategy, strategy)
