/**
 * How a router picks one replica among the usable ones: plain functions over
 * any pool that can say how busy it is, each weighing replicas by their
 * share of reads. They run on every read, so they allocate nothing.
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
 * A replica's share of reads relative to the others (`;weight=N` in
 * `DB_READER_HOSTS`): a replica of weight 3 takes three reads for each one
 * of a replica of weight 1. Every pick below takes one; without it each
 * candidate weighs 1.
 *
 * @example
 * ```ts
 * import type { ReaderPick } from "@pgfleet/core"
 *
 * const weightOf: ReaderPick.WeightOf<{ readonly weight: number }> = (pool) => pool.weight
 * ```
 *
 * @since 0.2.0
 * @category models
 */
export type WeightOf<A> = (candidate: A) => number

const equal: WeightOf<unknown> = () => 1

/**
 * A random replica, each with the probability of its weight's share of the
 * candidates' total: uniform when every weight is equal.
 *
 * @example
 * ```ts
 * import { ReaderPick } from "@pgfleet/core"
 *
 * const weights = new Map([["big", 3], ["small", 1]])
 * const pick = ReaderPick.random<string>((host) => weights.get(host)!)
 * pick(["big", "small"]) // "big" three times in four, on average
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const random = <A>(weightOf: WeightOf<A> = equal): Pick<A> => (candidates) => {
  if (weightOf === equal) return candidates[Math.floor(Math.random() * candidates.length)]!
  let total = 0
  for (let i = 0; i < candidates.length; i++) total += weightOf(candidates[i]!)
  let r = Math.random() * total
  for (let i = 0; i < candidates.length; i++) {
    r -= weightOf(candidates[i]!)
    if (r < 0) return candidates[i]!
  }
  // Only rounding reaches here.
  return candidates[candidates.length - 1]!
}

/**
 * Smooth weighted round robin (nginx's `upstream` algorithm): each pick adds
 * every candidate's weight to its credit, takes the candidate with the most
 * credit and charges it the total. Over any run of `total` picks each
 * candidate is taken as often as its weight, and spread out (3:1 gives
 * a, a, b, a rather than a, a, a, b). Credits are kept per candidate, so a
 * replica that drops out and comes back resumes its share. Equal weights
 * give plain turns. Allocates nothing once every candidate has been seen.
 */
const smooth = <A>(weightOf: WeightOf<A>) => {
  const credit = new Map<A, number>()
  /** Picks among `candidates[i]` for which `among(i)` holds (at least one does). */
  return (candidates: ReadonlyArray<A>, among: (i: number) => boolean): A => {
    let total = 0
    let best = -1
    let bestCredit = -Infinity
    for (let i = 0; i < candidates.length; i++) {
      if (!among(i)) continue
      const c = candidates[i]!
      const w = weightOf(c)
      const now = (credit.get(c) ?? 0) + w
      credit.set(c, now)
      total += w
      if (now > bestCredit) {
        best = i
        bestCredit = now
      }
    }
    const chosen = candidates[best]!
    credit.set(chosen, bestCredit - total)
    return chosen
  }
}

const all = () => true

/**
 * Each replica in turn, as often as its weight says (smooth weighted round
 * robin, as nginx's); with equal weights, plain turns.
 *
 * @example
 * ```ts
 * import { ReaderPick } from "@pgfleet/core"
 *
 * const pick = ReaderPick.roundRobin<string>()
 * pick(["a", "b"]) // "a", then "b"
 *
 * const weighted = ReaderPick.roundRobin<string>((host) => host === "a" ? 3 : 1)
 * // a, a, b, a, then again
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const roundRobin = <A>(weightOf: WeightOf<A> = equal): Pick<A> => {
  const next = smooth(weightOf)
  return (candidates) => next(candidates, all)
}

/**
 * The replica with the fewest connections in use plus callers waiting
 * relative to its weight (as nginx's `least_conn`): under load, a replica
 * of weight 3 holds about three times the connections of one of weight 1.
 * Ties (idle replicas, sequential callers) go by weighted turns, so even
 * one caller at a time spreads reads by weight.
 *
 * @example
 * ```ts
 * import { ReaderPick } from "@pgfleet/core"
 *
 * const pool = (name: string, inUse: number, weight = 1) => ({ name, weight, counts: () => ({ inUse, waiting: 0 }) })
 * const pick = ReaderPick.leastConnections<ReturnType<typeof pool>>((p) => p.weight)
 * pick([pool("big", 5, 3), pool("small", 2)]).name // "big": 5/3 < 2/1
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const leastConnections = <A extends Loaded>(weightOf: WeightOf<A> = equal): Pick<A> => {
  const next = smooth(weightOf)
  // The least load found by the last scan, as a fraction, read by `tied` without a closure per pick.
  let loadNum = 0
  let loadDen = 1
  let current: ReadonlyArray<A> = []
  const loadOf = (c: A) => {
    const { inUse, waiting } = c.counts()
    return inUse + waiting
  }
  // Compared as fractions (load × other weight), so no division rounds.
  const tied = (i: number) => {
    const c = current[i]!
    return loadOf(c) * loadDen === loadNum * weightOf(c)
  }
  return (candidates) => {
    if (candidates.length === 1) return candidates[0]!
    loadNum = Infinity
    loadDen = 1
    for (let i = 0; i < candidates.length; i++) {
      const c = candidates[i]!
      const load = loadOf(c)
      const w = weightOf(c)
      if (loadNum === Infinity || load * loadDen < loadNum * w) {
        loadNum = load
        loadDen = w
      }
    }
    current = candidates
    const chosen = next(candidates, tied)
    current = []
    return chosen
  }
}

/**
 * The built-in strategy for a `DB_READER_STRATEGY` value, weighing each
 * candidate by `weightOf`.
 *
 * @example
 * ```ts
 * import { ReaderPick } from "@pgfleet/core"
 *
 * const pick = ReaderPick.fromName<{ readonly weight: number; counts: () => { inUse: number; waiting: number } }>(
 *   "least-connections",
 *   (pool) => pool.weight
 * )
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const fromName = <A extends Loaded>(name: Name, weightOf: WeightOf<A> = equal): Pick<A> => {
  switch (name) {
    case "random":
      return random(weightOf)
    case "round-robin":
      return roundRobin(weightOf)
    case "least-connections":
      return leastConnections(weightOf)
  }
}
