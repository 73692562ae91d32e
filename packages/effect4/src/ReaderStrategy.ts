/**
 * How the router picks one replica among the usable ones. Provide your own
 * with `Layer.succeed(ReaderStrategy.ReaderStrategy, ...)`.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { PostgresLive, ReaderStrategy } from "@pgfleet/effect4"
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
import { ReaderPick } from "@pgfleet/core"
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
export class ReaderStrategy extends Context.Service<ReaderStrategy, Strategy>()("@pgfleet/effect4/ReaderStrategy") {}

/** Each replica by its `;weight=N` (1 unless given). */
const weightOf = (pool: HostPool): number => pool.weight

/**
 * A random replica, each as likely as its weight's share (`;weight=N`):
 * uniform, as the module pgfleet replaces, when no weight is given.
 *
 * @since 0.1.0
 * @category constructors
 */
export const random = (): Strategy => ({ name: "random", pick: ReaderPick.random(weightOf) })

/**
 * Each replica in turn, as often as its weight says (smooth weighted round
 * robin, as nginx's).
 *
 * @since 0.1.0
 * @category constructors
 */
export const roundRobin = (): Strategy => ({ name: "round-robin", pick: ReaderPick.roundRobin(weightOf) })

/**
 * The replica with the fewest connections in use plus callers waiting,
 * relative to its weight; ties go by weighted turns so idle replicas share
 * the load by weight.
 *
 * @since 0.1.0
 * @category constructors
 */
export const leastConnections = (): Strategy => ({
  name: "least-connections",
  pick: ReaderPick.leastConnections(weightOf)
})

/**
 * The built-in strategy for a `DB_READER_STRATEGY` value, weighing replicas by `;weight=N`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromName = (name: ReaderStrategyName): Strategy => ({ name, pick: ReaderPick.fromName(name, weightOf) })

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (strategy: Strategy): Layer.Layer<ReaderStrategy> => Layer.succeed(ReaderStrategy, strategy)
