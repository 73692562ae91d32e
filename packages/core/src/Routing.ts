/**
 * Which host a read goes to: the usable replicas by what health knows of
 * each, the strategy's pick among them, and the writer or a refusal when none
 * is usable. Synchronous and allocation-free when every replica is usable,
 * since it runs on every read.
 *
 * @since 0.2.0
 */
import type * as ReaderPick from "./ReaderPick.js"

/**
 * Why a replica was passed over.
 *
 * @since 0.2.0
 * @category models
 */
export type SkipReason = "down" | "suspect" | "role-changed" | "lagging" | "behind-position" | "failed-this-read"

/**
 * `strategy`: a replica picked by the strategy. `fallback`: the writer,
 * because no replica was usable. `no-readers`: the writer, because none is
 * configured.
 *
 * @since 0.2.0
 * @category models
 */
export type Route = "strategy" | "fallback" | "no-readers"

/**
 * A routing decision and why it was made.
 *
 * @since 0.2.0
 * @category models
 */
export interface Decision<P> {
  readonly pool: P
  readonly route: Route
  readonly strategy: string
  readonly skipped: ReadonlyArray<{ readonly host: string; readonly reason: SkipReason }>
}

/**
 * No host may serve the read: every replica is unusable and
 * `DB_READER_FALLBACK=fail`.
 *
 * @since 0.2.0
 * @category models
 */
export interface Refusal {
  readonly _tag: "NoHealthyReader"
  /** The replicas, `host:port`, comma-separated. */
  readonly host: string
  readonly message: string
}

/**
 * What routing reads of one replica's health.
 *
 * @since 0.2.0
 * @category models
 */
export interface Health {
  readonly state: "healthy" | "suspect" | "down"
  readonly roleMismatch: boolean
  readonly lagSeconds: number | undefined
  readonly walLsn: bigint | undefined
}

/**
 * What a router is made of.
 *
 * @since 0.2.0
 * @category models
 */
export interface Options<P extends { readonly host: string }> {
  readonly readers: ReadonlyArray<P>
  readonly writer: P
  readonly strategy: { readonly name: string; readonly pick: ReaderPick.Pick<P> }
  readonly health: (host: string) => Health
  /** `DB_READER_MAX_LAG_MS`; `0` is off. */
  readonly maxLagMs: number
  /** `DB_READER_FALLBACK`. */
  readonly fallback: "writer" | "fail"
}

/**
 * Why `health` makes a replica unusable for one read, or `undefined`.
 *
 * @since 0.2.0
 * @category routing
 */
export const skipReason = (
  health: Health,
  maxLagMs: number,
  failedThisRead: boolean,
  minimumPosition: bigint | undefined
): SkipReason | undefined => {
  if (failedThisRead) return "failed-this-read"
  if (health.state === "down") return "down"
  if (health.roleMismatch) return "role-changed"
  if (maxLagMs > 0 && (health.lagSeconds ?? 0) * 1000 > maxLagMs) return "lagging"
  // The probe's position can only be behind the replica's real one, so this never lets a stale read through.
  if (minimumPosition !== undefined && (health.walLsn ?? -1n) < minimumPosition) return "behind-position"
  // Checked last: a suspect replica is still used when nothing better is left.
  if (health.state === "suspect") return "suspect"
  return undefined
}

const noExclusions: ReadonlyArray<string> = []

/**
 * A router: picks the pool for one read, passing over the hosts in `exclude`
 * (already tried for this read) and, with `minimumPosition`, replicas not yet
 * known to have replayed that WAL position.
 *
 * @example
 * ```ts
 * import { ReaderPick, Routing } from "@pgfleet/core"
 *
 * const pool = (host: string) => ({ host })
 * const route = Routing.router({
 *   readers: [pool("r1:5432"), pool("r2:5432")],
 *   writer: pool("w:5432"),
 *   strategy: { name: "round-robin", pick: ReaderPick.roundRobin() },
 *   health: (host) => ({ state: host === "r1:5432" ? "down" : "healthy", roleMismatch: false, lagSeconds: 0, walLsn: 0n }),
 *   maxLagMs: 0,
 *   fallback: "writer"
 * })
 * const decision = route() // r2, with r1 skipped as "down"
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const router = <P extends { readonly host: string }>(options: Options<P>) => {
  const { fallback, health, maxLagMs, readers, strategy, writer } = options
  const skip = (pool: P, exclude: ReadonlyArray<string>, minimumPosition: bigint | undefined) =>
    skipReason(health(pool.host), maxLagMs, exclude.includes(pool.host), minimumPosition)
  const noReaders: Decision<P> = { pool: writer, route: "no-readers", strategy: strategy.name, skipped: [] }
  // Decisions are immutable, so the common ones are made once.
  const healthyDecision = new Map<P, Decision<P>>(
    readers.map((pool) => [pool, { pool, route: "strategy", strategy: strategy.name, skipped: [] }])
  )
  return (exclude: ReadonlyArray<string> = noExclusions, minimumPosition?: bigint): Decision<P> | Refusal => {
    if (readers.length === 0) return noReaders
    // The common case, every replica usable, allocates nothing but the decision.
    let firstSkipped = -1
    for (let i = 0; i < readers.length && firstSkipped < 0; i++) {
      if (skip(readers[i]!, exclude, minimumPosition) !== undefined) firstSkipped = i
    }
    if (firstSkipped < 0) return healthyDecision.get(strategy.pick(readers))!

    const candidates: Array<P> = readers.slice(0, firstSkipped)
    const skipped: Array<{ host: string; reason: SkipReason }> = []
    for (const pool of readers.slice(firstSkipped)) {
      const reason = skip(pool, exclude, minimumPosition)
      if (reason === undefined) candidates.push(pool)
      else skipped.push({ host: pool.host, reason })
    }
    if (candidates.length > 0) {
      return { pool: strategy.pick(candidates), route: "strategy", strategy: strategy.name, skipped }
    }
    // Only the writer is sure to have a position it gave out itself.
    if (fallback === "fail" && minimumPosition === undefined) {
      // The writer may not take reads: a suspect replica, whose probe is under way, is better than failing.
      const suspects = readers.filter((p) => skipped.some((s) => s.host === p.host && s.reason === "suspect"))
      if (suspects.length > 0) {
        return { pool: strategy.pick(suspects), route: "strategy", strategy: strategy.name, skipped }
      }
      return {
        _tag: "NoHealthyReader",
        host: readers.map((r) => r.host).join(","),
        message: `no replica can serve reads (${
          skipped.map((s) => `${s.host}: ${s.reason}`).join(", ")
        }) and DB_READER_FALLBACK is fail`
      }
    }
    return { pool: writer, route: "fallback", strategy: strategy.name, skipped }
  }
}
