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
 * import { StatementClassifier } from "@pgfleet/postgres"
 *
 * const side = Effect.flatMap(StatementClassifier.StatementClassifier, (c) =>
 *   c.classify("SELECT * FROM accounts FOR UPDATE")
 * ).pipe(Effect.map((c) => `${c.side}: ${c.reason}`)) // "writer: lock-clause"
 * ```
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import { loadModule, parseSync } from "libpg-query"
import type { Classification, FunctionInfo } from "./internal/classify.js"
import { classifyParse, parseFailed, unknownFunctions } from "./internal/classify.js"
import { describe } from "./internal/failures.js"
import { PostgresConfig } from "./PostgresConfig.js"
import { WriterPool } from "./WriterPool.js"

export type {
  /**
   * @since 0.1.0
   * @category models
   */
  Classification
} from "./internal/classify.js"

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
  extends Context.Tag("@pgfleet/postgres/StatementClassifier")<StatementClassifier, Service>()
{}

const FUNCTIONS_SQL = `SELECT proname AS name,
  bool_or(provolatile = 'v' AND pronamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace))
    AS user_volatile
  FROM pg_proc WHERE proname = ANY($1) GROUP BY proname`

/** A bounded map that forgets the least recently used entry (a Map keeps insertion order). */
class Lru<V> {
  readonly #entries = new Map<string, V>()
  constructor(readonly capacity: number) {}
  get(key: string): V | undefined {
    const value = this.#entries.get(key)
    if (value !== undefined) {
      this.#entries.delete(key)
      this.#entries.set(key, value)
    }
    return value
  }
  set(key: string, value: V) {
    this.#entries.delete(key)
    this.#entries.set(key, value)
    if (this.#entries.size > this.capacity) this.#entries.delete(this.#entries.keys().next().value!)
  }
  deleteWhere(test: (value: V) => boolean) {
    for (const [key, value] of this.#entries) if (test(value)) this.#entries.delete(key)
  }
  get size() {
    return this.#entries.size
  }
}

/**
 * The classifier: loads the parser, caches classifications per SQL text (an
 * LRU of `DB_AUTO_CACHE_SIZE` entries) and function volatility per name,
 * and forgets volatility every `DB_AUTO_FUNCTION_REFRESH_MS`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<StatementClassifier, never, PostgresConfig | WriterPool> = Layer.scoped(
  StatementClassifier,
  Effect.gen(function*() {
    const settings = yield* PostgresConfig
    const writer = yield* WriterPool
    yield* Effect.promise(() => loadModule())
    const classifications = new Lru<Classification>(settings.autoCacheSize)
    const functions = new Map<string, FunctionInfo>()

    const parse = (sql: string): unknown => {
      try {
        return parseSync(sql)
      } catch {
        return undefined
      }
    }
    const decide = (parsed: unknown) =>
      parsed === undefined ?
        parseFailed :
        classifyParse(parsed as Parameters<typeof classifyParse>[0], (name) => functions.get(name))

    const lookUp = (names: ReadonlyArray<string>) =>
      Effect.tryPromise(() => writer.pgPool.query<{ name: string; user_volatile: boolean }>(FUNCTIONS_SQL, [names]))
        .pipe(
          Effect.tap(({ rows }) =>
            Effect.sync(() => {
              for (const row of rows) functions.set(row.name, { volatile: row.user_volatile, builtin: false })
            })
          ),
          // A lookup that fails leaves the names unknown: those statements go to the writer.
          Effect.catchAll((cause) =>
            Effect.logWarning("pgfleet: could not look up function volatility").pipe(
              Effect.annotateLogs({ functions: names.join(","), error: describe(cause) })
            )
          )
        )

    const classify = (sql: string): Effect.Effect<Classification> =>
      Effect.suspend(() => {
        const hit = classifications.get(sql)
        if (hit !== undefined) return Effect.succeed(hit)
        const parsed = parse(sql)
        const missing = parsed === undefined ? [] : unknownFunctions(parsed, (name) => functions.has(name))
        return Effect.as(missing.length > 0 ? lookUp(missing) : Effect.void, undefined).pipe(
          Effect.map(() => {
            const classification = decide(parsed)
            classifications.set(sql, classification)
            return classification
          })
        )
      })

    const invalidate = Effect.sync(() => {
      functions.clear()
      classifications.deleteWhere((c) => c.functions.length > 0)
    })

    yield* Effect.forkScoped(
      Effect.repeat(Effect.delay(invalidate, settings.autoFunctionRefresh), Schedule.forever)
    )

    return {
      classify,
      cached: (sql) => classifications.get(sql),
      invalidate,
      size: () => ({ entries: classifications.size, capacity: classifications.capacity })
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
 * import { StatementClassifier } from "@pgfleet/postgres"
 *
 * const side = Effect.map(StatementClassifier.classifyText("SELECT nextval('ids')"), (c) => c.reason)
 * // "writing-function:nextval"
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const classifyText = (sql: string): Effect.Effect<Classification> =>
  Effect.promise(() => loadModule()).pipe(
    Effect.map(() => {
      let parsed: unknown
      try {
        parsed = parseSync(sql)
      } catch {
        return parseFailed
      }
      return classifyParse(parsed as Parameters<typeof classifyParse>[0], () => ({ volatile: false, builtin: true }))
    })
  )
