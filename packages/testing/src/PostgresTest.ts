/**
 * `PostgresLive`'s stand-in for tests: the same services, backed by a fresh
 * `TestCluster` that is stopped when the layer is released.
 *
 * @since 0.1.0
 */
import { Postgres, PostgresConfig } from "@pgfleet/postgres"
import type { PostgresError } from "@pgfleet/postgres"
import type * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as TestCluster from "./TestCluster.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface PostgresTestOptions extends TestCluster.TestClusterOptions {
  /** Settings to change from the defaults (pool sizes, strategy, health intervals, ...). */
  readonly settings?: Partial<PostgresConfig.PostgresSettingsInput> | undefined
  /** The fleet's name (`fleetName`) in `stats`, spans, logs and metrics; `default` unless given. */
  readonly name?: string | undefined
}

/**
 * The settings that point pgfleet at a running cluster.
 *
 * @since 0.1.0
 * @category utils
 */
export const settingsFor = (cluster: TestCluster.ClusterInfo): PostgresConfig.PostgresSettingsInput => ({
  writerHosts: [`${cluster.writer.host}:${cluster.writer.port}`],
  port: cluster.writer.port,
  readerHosts: cluster.readers.map((r) => `${r.host}:${r.port}`),
  username: cluster.username,
  password: cluster.env.DB_PASSWORD!,
  database: cluster.database
})

/**
 * The cluster's `DB_*` variables under a prefix, e.g. `ORDERS_DB_WRITER_HOST`:
 * merge the environments of two clusters to configure two fleets from one
 * environment, as `Postgres.layerFleet("ORDERS")` or
 * `createFleet(env, { prefix: "ORDERS" })` read it.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { envFor, TestCluster } from "@pgfleet/testing"
 *
 * const twoFleetsEnv = Effect.gen(function*() {
 *   const orders = yield* TestCluster.make({ replicas: 1 })
 *   const analytics = yield* TestCluster.make({ replicas: 1 })
 *   return { ...envFor(orders, "ORDERS"), ...envFor(analytics, "ANALYTICS") }
 * })
 * ```
 *
 * @since 0.2.0
 * @category utils
 */
export const envFor = (cluster: TestCluster.ClusterInfo, prefix?: string): Readonly<Record<string, string>> =>
  Object.fromEntries(Object.entries(cluster.env).map(([name, value]) => [PostgresConfig.prefixed(prefix, name), value]))

/**
 * Every `PostgresLive` service plus `TestCluster.Cluster`, on a new cluster.
 * Give each fleet a `name` when a test runs several.
 *
 * @example
 * ```ts
 * import { layerTest } from "@pgfleet/testing"
 *
 * // With @effect/vitest: layer(ThreeReplicas, { excludeTestServices: true })((it) => { ... })
 * const ThreeReplicas = layerTest({ replicas: 3, settings: { readerStrategy: "round-robin" } })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerTest = (
  options: PostgresTestOptions = {}
): Layer.Layer<
  Postgres.Services | TestCluster.Cluster,
  TestCluster.TestClusterError | PostgresError.PostgresError | ConfigError.ConfigError
> =>
  Layer.unwrapEffect(
    Effect.map(TestCluster.Cluster, (cluster) =>
      Postgres.layer({
        ...settingsFor(cluster),
        ...(options.name === undefined ? {} : { fleetName: options.name }),
        ...options.settings
      }))
  ).pipe(Layer.provideMerge(TestCluster.layer(options)))

/**
 * The default test fleet: a writer and 2 streaming replicas.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Postgres } from "@pgfleet/postgres"
 * import { PostgresTest } from "@pgfleet/testing"
 *
 * // With @effect/vitest: it.layer(PostgresTest)((it) => { it.effect(...) }), as in the README.
 * const readsFromStandby = Effect.gen(function*() {
 *   const pg = yield* Postgres.Postgres
 *   const rows = yield* pg.reader<{ standby: boolean }>`SELECT pg_is_in_recovery() AS standby`
 *   return rows[0]!.standby
 * }).pipe(Effect.provide(PostgresTest))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const PostgresTest = layerTest()
