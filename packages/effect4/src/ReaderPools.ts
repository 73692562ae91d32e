/**
 * The replicas' pools as a service, one per `DB_READER_HOSTS` entry, opened at the same time.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { ReaderPools } from "@pgfleet/effect4"
 *
 * const hosts = Effect.map(Effect.service(ReaderPools.ReaderPools), (pools) => pools.map((p) => p.host))
 * ```
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as HostPool from "./HostPool.js"
import { PostgresConfig } from "./PostgresConfig.js"
import type { PostgresError } from "./PostgresError.js"

/**
 * One pool per replica in `DB_READER_HOSTS`, in that order. Empty when no
 * replica is configured.
 *
 * @since 0.1.0
 * @category tags
 */
export class ReaderPools extends Context.Service<ReaderPools, ReadonlyArray<HostPool.HostPool>>()(
  "@pgfleet/effect4/ReaderPools"
) {}

/**
 * Opens every replica's pool at the same time (checking each is a standby);
 * closes them when released. Fails if any replica cannot be opened.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<ReaderPools, PostgresError, PostgresConfig> = Layer.effect(
  ReaderPools,
  Effect.flatMap(Effect.service(PostgresConfig), (settings) =>
    Effect.forEach(
      settings.readers,
      (address) => HostPool.make({ address, role: "reader", settings }),
      { concurrency: "unbounded" }
    ))
)
