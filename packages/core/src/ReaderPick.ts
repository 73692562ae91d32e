/**
 * How a router picks one replica among the usable ones: plain functions over
 * any pool that can say how busy it is.
 *
 * @since 0.2.0
 */

/**
 * What {@link leastConnections} reads of a pool.
 *
 * @since 0.2.0
 * @category models
 */
export interface Loaded {
  readonly counts: () => { readonly inUse: number; readonly waiting: number }
}

/**
 * Picks one of `candidates` (never empty): the usable replicas, in configuration order.
 *
 * @since 0.2.0
 * @category models
 */
export type Pick<A> = (candidates: ReadonlyArray<A>) => A

/**
 * The built-in strategies, by their `DB_READER_STRATEGY` name.
 *
 * @since 0.2.0
 * @category models
 */
export type Name = "random" | "round-robin" | "least-connections"

/**
 * A uniformly random replica.
 *
 * @since 0.2.0
 * @category constructors
 */
export const random = <A>(): Pick<A> => (candidates) => candidates[Math.floor(Math.random() * candidates.length)]!

/**
 * Each replica in turn.
 *
 * @example
 * ```ts
 * import { ReaderPick } from "@pgfleet/core"
 *
 * const pick = ReaderPick.roundRobin<string>()
 * pick(["a", "b"]) // "a", then "b"
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const roundRobin = <A>(): Pick<A> => {
  let next = 0
  return (candidates) => candidates[next++ % candidates.length]!
}

/**
 * The replica with the fewest connections in use plus callers waiting;
 * ties go round-robin so idle replicas share the load.
 *
 * @since 0.2.0
 * @category constructors
 */
export const leastConnections = <A extends Loaded>(): Pick<A> => {
  let rotation = 0
  return (candidates) => {
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

/**
 * The built-in strategy for a `DB_READER_STRATEGY` value.
 *
 * @since 0.2.0
 * @category constructors
 */
export const fromName = <A extends Loaded>(name: Name): Pick<A> => {
  switch (name) {
    case "random":
      return random()
    case "round-robin":
      return roundRobin()
    case "least-connections":
      return leastConnections()
  }
}
