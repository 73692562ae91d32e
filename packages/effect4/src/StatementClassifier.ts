/**
 * Decides, with PostgreSQL's own grammar (libpg_query, compiled to
 * WebAssembly), whether a SQL text certainly only reads. `pg.auto` sends what
 * only reads to a replica and everything else to the writer.
 *
 * Rules: `SELECT`, `VALUES`, `TABLE`, `SHOW` and `EXPLAIN` (without
 * `ANALYZE` of a write) read, unless they hold a locking clause, `SELECT …
 * INTO`, a data-modifying CTE at any depth, a built-in function that writes
 * or locks (`nextval`, `setval`, `pg_advisory_*`, `pg_notify`, `set_config`,
 * `txid_current`, `lo_*`, …) or a `VOLATILE` user function (looked up in
 * `pg_proc` on the writer, once per name). Everything else, multi-statement
 * text with one writing part, and text that does not parse, goes to the writer.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { StatementClassifier } from "@pgfleet/effect4"
 *
 * const side = Effect.flatMap(StatementClassifier.StatementClassifier, (c) =>
 *   c.classify("SELECT * FROM accounts FOR UPDATE")
 * ).pipe(Effect.map((c) => `${c.side}: ${c.reason}`)) // "writer: lock-clause"
 * ```
 *
 * @since 0.1.0
 */
import { Failure, StatementClass } from "@pgfleet/core"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import { PostgresConfig } from "./PostgresConfig.js"
import { WriterPool } from "./WriterPool.js"

/**
 * @since 0.1.0
 * @category models
 */
export type Classification = StatementClass.Classification

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** The classification of `sql`, looking up the volatility of functions it has not seen yet. */
  readonly classify: (sql: string) => Effect.Effect<Classification>
  /** The cached classification of `sql`, if it needs nothing looked up. Synchronous: it runs on every statement. */
  readonly cached: (sql: string) => Classification | undefined
  /** Forgets every function's volatility and every classification that depended on one (after DDL). */
  readonly invalidate: Effect.Effect<void>
  /** Classifications held now, and the bound (`DB_AUTO_CACHE_SIZE`). */
  readonly size: () => { readonly entries: number; readonly capacity: number }
}

/**
 * @since 0.1.0
 * @category tags
 */
export class StatementClassifier
  extends Context.Service<StatementClassifier, Service>()("@pgfleet/effect4/StatementClassifier")
{}

/**
 * The classifier: loads the parser, caches classifications per SQL text (an
 * LRU of `DB_AUTO_CACHE_SIZE` entries) and function volatility per name,
 * and forgets volatility every `DB_AUTO_FUNCTION_REFRESH_MS`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<StatementClassifier, never, PostgresConfig | WriterPool> = Layer.effect(
  StatementClassifier,
  Effect.gen(function*() {
    const settings = yield* PostgresConfig
    const writer = yield* WriterPool
    yield* Effect.promise(StatementClass.loadParser)
    const classifier = StatementClass.classifier(settings.autoCacheSize)

    const lookUp = (names: ReadonlyArray<string>) =>
      Effect.tryPromise(() =>
        writer.pgPool.query<{ name: string; user_volatile: boolean }>(StatementClass.FUNCTIONS_SQL, [names])
      ).pipe(
        Effect.tap(({ rows }) => Effect.sync(() => classifier.learn(rows))),
        // A lookup that fails leaves the names unknown: those statements go to the writer.
        Effect.catch((cause) =>
          Effect.logWarning("pgfleet: could not look up function volatility").pipe(
            Effect.annotateLogs({ functions: names.join(","), error: Failure.describe(cause) })
          )
        )
      )

    const classify = (sql: string): Effect.Effect<Classification> =>
      Effect.suspend(() => {
        const hit = classifier.cached(sql)
        if (hit !== undefined) return Effect.succeed(hit)
        const pending = classifier.prepare(sql)
        const decide = Effect.sync(() => classifier.decide(pending))
        return pending.missing.length > 0 ? Effect.andThen(lookUp(pending.missing), decide) : decide
      })

    const invalidate = Effect.sync(() => classifier.invalidate())

    yield* Effect.forkScoped(
      Effect.repeat(Effect.delay(invalidate, settings.autoFunctionRefresh), Schedule.forever)
    )

    return {
      classify,
      cached: (sql) => classifier.cached(sql),
      invalidate,
      size: () => classifier.size()
    }
  })
)

/**
 * Classifies one SQL text with the grammar alone, treating every function
 * that is not a known writing built-in as read-only. For tools and tests;
 * `pg.auto` uses the service, which also knows user functions.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { StatementClassifier } from "@pgfleet/effect4"
 *
 * const side = Effect.map(StatementClassifier.classifyText("SELECT nextval('ids')"), (c) => c.reason)
 * // "writing-function:nextval"
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const classifyText = (sql: string): Effect.Effect<Classification> =>
  Effect.promise(StatementClass.loadParser).pipe(Effect.map(() => StatementClass.classifyText(sql)))
