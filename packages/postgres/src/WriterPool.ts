/**
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { WriterPool } from "@pgfleet/postgres"
 *
 * const inUse = Effect.map(WriterPool.WriterPool, (pool) => pool.counts().inUse)
 * ```
 *
 * @since 0.1.0
 */
import type * as Reactivity from "@effect/experimental/Reactivity"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as HostPool from "./HostPool.js"
import { PostgresConfig } from "./PostgresConfig.js"
import type { PostgresError } from "./PostgresError.js"

/**
 * The primary's pool: its client, host and counts.
 *
 * @since 0.1.0
 * @category tags
 */
export class WriterPool extends Context.Tag("@pgfleet/postgres/WriterPool")<WriterPool, HostPool.HostPool>() {}

/**
 * Opens and warms the writer pool (checking it is a primary); closes it when released.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<WriterPool, PostgresError, PostgresConfig | Reactivity.Reactivity> = Layer.scoped(
  WriterPool,
  Effect.flatMap(PostgresConfig, (settings) => HostPool.make({ address: settings.writer, role: "writer", settings }))
)
