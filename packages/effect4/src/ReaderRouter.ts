/**
 * Picks the pool for each read: a healthy replica chosen by the
 * `ReaderStrategy`, or the writer when there is none.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { ReaderRouter } from "@pgfleet/effect4"
 *
 * const where = Effect.flatMap(ReaderRouter.ReaderRouter, (router) => router.route()).pipe(
 *   Effect.map((d) => `${d.pool.host} via ${d.route} (${d.strategy})`)
 * )
 * ```
 *
 * @since 0.1.0
 */
import { Routing } from "@pgfleet/core"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
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
export type SkipReason = Routing.SkipReason

/**
 * `strategy`: a replica picked by the strategy. `fallback`: the writer,
 * because no replica was usable. `no-readers`: the writer, because none is
 * configured.
 *
 * @since 0.1.0
 * @category models
 */
export type Route = Routing.Route

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
export class ReaderRouter extends Context.Service<ReaderRouter, Service>()("@pgfleet/effect4/ReaderRouter") {}

/**
 * The WAL position reads in this fiber must see (set by
 * `Postgres.withReadYourWrites` / `readingAfter`); `undefined` is any.
 *
 * @since 0.1.0
 * @category fiber refs
 */
export const currentMinimumPosition: Context.Reference<bigint | undefined> = Context.Reference<bigint | undefined>(
  "@pgfleet/effect4/ReaderRouter/currentMinimumPosition",
  { defaultValue: () => undefined }
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
      const decided = Routing.router({
        readers,
        writer,
        strategy,
        health: monitor.health,
        maxLagMs: Duration.toMillis(settings.maxReplicaLag),
        fallback: settings.readerFallback
      })
      const decide = (exclude?: ReadonlyArray<string>, minimumPosition?: bigint): Decision | PostgresError => {
        const decision = decided(exclude, minimumPosition)
        return "_tag" in decision
          ? new PostgresError({ reason: "NoHealthyReader", host: decision.host, message: decision.message })
          : decision
      }

      const route = (exclude?: ReadonlyArray<string>, minimumPosition?: bigint) =>
        Effect.suspend((): Effect.Effect<Decision, PostgresError> => {
          const decision = decide(exclude, minimumPosition)
          return decision instanceof PostgresError ? Effect.fail(decision) : Effect.succeed(decision)
        })

      return { route, decide }
    })
  )
