/**
 * Where the example connects: the `DB_*` environment when `DB_WRITER_HOST`
 * is set, else an embedded cluster (a writer and 2 streaming replicas).
 */
import { Postgres, PostgresLive } from "@pgfleet/postgres"
import type { PostgresConfig } from "@pgfleet/postgres"
import { settingsFor, TestCluster } from "@pgfleet/testing"
import { Config, Console, Effect, Layer, Option } from "effect"

/** True when the environment names a real deployment. */
export const usesEnvironment = Config.option(Config.string("DB_WRITER_HOST")).pipe(Config.map(Option.isSome))

/**
 * Every pgfleet service, plus `TestCluster.Cluster` when the cluster is
 * embedded. `embedded` tunes the settings pgfleet uses for that cluster.
 */
export const layer = (embedded: Partial<PostgresConfig.PostgresSettingsInput> = {}) =>
  Layer.unwrapEffect(Effect.gen(function*() {
    if (yield* usesEnvironment) {
      yield* Console.log("Using the DB_* environment (DB_WRITER_HOST is set).")
      return PostgresLive
    }
    yield* Console.log("DB_WRITER_HOST is not set: starting an embedded PostgreSQL primary with 2 streaming replicas.")
    return Layer.unwrapEffect(
      Effect.map(TestCluster.Cluster, (cluster) =>
        Postgres.layer({
          ...settingsFor(cluster),
          // Reader 0 is also a writer candidate: the tour promotes it.
          writerHosts: [cluster.writer, cluster.readers[0]!].map((h) => `${h.host}:${h.port}`),
          ...embedded
        }))
    ).pipe(
      Layer.provideMerge(Layer.unwrapEffect(Effect.sync(() => {
        const started = Date.now()
        return TestCluster.layer({ replicas: 2 }).pipe(
          Layer.tap(() => Console.log(`Embedded cluster is up in ${Date.now() - started} ms.`))
        )
      })))
    )
  }))
