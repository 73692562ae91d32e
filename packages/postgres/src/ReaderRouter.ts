/**
 * Picks the pool for each read: a healthy replica chosen by the
 * `ReaderStrategy`, or the writer when there is none.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { ReaderRouter } from "@pgfleet/postgres"
 *
 * const where = Effect.flatMap(ReaderRouter.ReaderRouter, (router) => router.route()).pipe(
 *   Effect.map((d) => `${d.pool.host} via ${d.route} (${d.strategy})`)
 * )
 * ```
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { HealthMonitor } from "./HealthMonitor.js"
import type { HostPool } from "./HostPool.js"
import { PostgresConfig } from "./PostgresConfig.js"
import { PostgresError } from "./PostgresError.js"
import { ReaderPools } from "./ReaderPools.js"
import * as ReaderStrategy from "./ReaderStrategy.js"
import { WriterPool } from "./WriterPool.js"

/**
 * Why a replica was passed over.
 *
 * @since 0.1.0
 * @category models
 */
export type SkipReason = "down" | "suspect" | "role-changed" | "lagging" | "behind-position" | "failed-this-read"

/**
 * `strategy`: a replica picked by the strategy. `fallback`: the writer,
 * because no replica was usable. `no-readers`: the writer, because none is
 * configured.
 *
 * @since 0.1.0
 * @category models
 */
export type Route = "strategy" | "fallback" | "no-readers"

/**
 * A routing decision and why it was made.
 *
 * @since 0.1.0
 * @category models
 */
export interface Decision {
  readonly pool: HostPool
  readonly route: Route
  readonly strategy: string
  readonly skipped: ReadonlyArray<{ readonly host: string; readonly reason: SkipReason }>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /**
   * Picks a pool for one read, passing over the hosts in `exclude` (already
   * tried for this read) and, with `minimumPosition`, replicas not yet known
   * to have replayed that WAL position.
   */
  readonly route: (
    exclude?: ReadonlyArray<string>,
    minimumPosition?: bigint
  ) => Effect.Effect<Decision, PostgresError>
  /** The same decision, synchronously: a `PostgresError` when no host may serve the read. */
  readonly decide: (exclude?: ReadonlyArray<string>, minimumPosition?: bigint) => Decision | PostgresError
}

/**
 * @since 0.1.0
 * @category tags
 */
export class ReaderRouter extends Context.Tag("@pgfleet/postgres/ReaderRouter")<ReaderRouter, Service>() {}

/**
 * The WAL position reads in this fiber must see (set by
 * `Postgres.withReadYourWrites` / `readingAfter`); `undefined` is any.
 *
 * @since 0.1.0
 * @category fiber refs
 */
export const currentMinimumPosition: FiberRef.FiberRef<bigint | undefined> = FiberRef.unsafeMake<bigint | undefined>(
  undefined
)

/**
 * The router. It uses the `ReaderStrategy` service when one is provided,
 * else the strategy named by `DB_READER_STRATEGY`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<ReaderRouter, never, PostgresConfig | WriterPool | ReaderPools | HealthMonitor> = Layer
  .effect(
    ReaderRouter,
    Effect.gen(function*() {
      const settings = yield* PostgresConfig
      const writer = yield* WriterPool
      const readers = yield* ReaderPools
      const monitor = yield* HealthMonitor
      const strategy = Option.getOrElse(
        yield* Effect.serviceOption(ReaderStrategy.ReaderStrategy),
        () => ReaderStrategy.fromName(settings.readerStrategy)
      )
      const maxLagSeconds = Duration.toSeconds(settings.maxReplicaLag)

      const skipReason = (
        pool: HostPool,
        exclude: ReadonlyArray<string>,
        minimumPosition: bigint | undefined
      ): SkipReason | undefined => {
        if (exclude.includes(pool.host)) return "failed-this-read"
        const health = monitor.health(pool.host)
        if (health.state === "down") return "down"
        if (health.roleMismatch) return "role-changed"
        if (maxLagSeconds > 0 && (health.lagSeconds ?? 0) > maxLagSeconds) return "lagging"
        // The probe's position can only be behind the replica's real one, so this never lets a stale read through.
        if (minimumPosition !== undefined && (health.walLsn ?? -1n) < minimumPosition) return "behind-position"
        // Checked last: a suspect replica is still used when nothing better is left.
        if (health.state === "suspect") return "suspect"
        return undefined
      }

      const noReaders: Decision = { pool: writer, route: "no-readers", strategy: strategy.name, skipped: [] }
      const noExclusions: ReadonlyArray<string> = []
      // Decisions are immutable, so the common ones are made once.
      const healthyDecision = new Map<HostPool, Decision>(
        readers.map((pool) => [pool, { pool, route: "strategy", strategy: strategy.name, skipped: [] }])
      )

      const decide = (
        exclude: ReadonlyArray<string> = noExclusions,
        minimumPosition?: bigint
      ): Decision | PostgresError => {
        if (readers.length === 0) return noReaders
        // The common case, every replica usable, allocates nothing but the decision.
        let firstSkipped = -1
        for (let i = 0; i < readers.length && firstSkipped < 0; i++) {
          if (skipReason(readers[i]!, exclude, minimumPosition) !== undefined) firstSkipped = i
        }
        if (firstSkipped < 0) return healthyDecision.get(strategy.pick(readers))!

        const candidates: Array<HostPool> = readers.slice(0, firstSkipped)
        const skipped: Array<{ host: string; reason: SkipReason }> = []
        for (const pool of readers.slice(firstSkipped)) {
          const reason = skipReason(pool, exclude, minimumPosition)
          if (reason === undefined) candidates.push(pool)
          else skipped.push({ host: pool.host, reason })
        }
        if (candidates.length > 0) {
          return { pool: strategy.pick(candidates), route: "strategy", strategy: strategy.name, skipped }
        }
        // Only the writer is sure to have a position it gave out itself.
        if (settings.readerFallback === "fail" && minimumPosition === undefined) {
          // The writer may not take reads: a suspect replica, whose probe is under way, is better than failing.
          const suspects = readers.filter((p) => skipped.some((s) => s.host === p.host && s.reason === "suspect"))
          if (suspects.length > 0) {
            return { pool: strategy.pick(suspects), route: "strategy", strategy: strategy.name, skipped }
          }
          return new PostgresError({
            reason: "NoHealthyReader",
            host: readers.map((r) => r.host).join(","),
            message: `no replica can serve reads (${
              skipped.map((s) => `${s.host}: ${s.reason}`).join(", ")
            }) and DB_READER_FALLBACK is fail`
          })
        }
        return { pool: writer, route: "fallback", strategy: strategy.name, skipped }
      }

      const route = (exclude?: ReadonlyArray<string>, minimumPosition?: bigint) =>
        Effect.suspend((): Effect.Effect<Decision, PostgresError> => {
          const decision = decide(exclude, minimumPosition)
          return decision instanceof PostgresError ? Effect.fail(decision) : Effect.succeed(decision)
        })

      return { route, decide }
    })
  )
