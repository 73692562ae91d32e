/**
 * pgfleet's replacement for @effect/sql-pg's test/utils.ts: the only file of
 * the suite that is not upstream's. Same class, same static layers; where
 * upstream starts a postgres container and opens `PgClient.layer` on it,
 * this opens a pgfleet fleet (effect 4 line) on a real primary + replica
 * from @pgfleet/testing and provides its `writer` (or, with
 * PGFLEET_SUITE_CLIENT=reader, its `reader`) as `PgClient.PgClient` and
 * `SqlClient.SqlClient`. PGFLEET_SUITE_CLIENT=sql-pg is the control: the
 * installed @effect/sql-pg's own `PgClient.layer` on the same primary.
 */
import { PgClient } from "@effect/sql-pg"
import { TestCluster } from "@pgfleet/testing"
import { Clock, Context, Data, Effect, Layer, Redacted, String } from "effect"
import { SqlClient } from "effect/sql"
import { afterAll } from "vitest"
import { Postgres } from "../../src/index.js"
import type { PostgresConfig } from "../../src/index.js"

/** Which of the fleet's clients the suite runs on (`writer-sql-pg`: the writer with `DB_DRIVER=sql-pg`). */
export const target: "writer" | "writer-sql-pg" | "reader" | "sql-pg" = process.env.PGFLEET_SUITE_CLIENT === "reader"
  ? "reader"
  : process.env.PGFLEET_SUITE_CLIENT === "sql-pg"
  ? "sql-pg"
  : process.env.PGFLEET_SUITE_CLIENT === "writer-sql-pg"
  ? "writer-sql-pg"
  : "writer"

export class ContainerError extends Data.TaggedError("ContainerError")<{
  cause: unknown
}> {}

// One cluster per test file: its servers take seconds to start, where a
// fresh database per layer (below) is enough to keep upstream's isolation.
let cluster: Promise<TestCluster.TestClusterPromise> | undefined
let databases = 0
afterAll(async () => {
  if (cluster !== undefined) await (await cluster).stop()
})

interface Database {
  readonly cluster: TestCluster.TestClusterPromise
  readonly database: string
}

/** A fresh database on the shared cluster, as upstream's fresh container; replicated before use. */
const freshDatabase = Effect.tryPromise({
  try: async (): Promise<Database> => {
    cluster ??= TestCluster.startTestCluster({ replicas: 1 })
    const c = await cluster
    const database = `suite_${process.pid}_${++databases}`
    await c.query("writer", `CREATE DATABASE ${database}`)
    await c.waitForReplication()
    return { cluster: c, database }
  },
  catch: (cause) => new ContainerError({ cause })
})

export class PgContainer extends Context.Service<PgContainer>()("test/PgContainer", {
  make: freshDatabase
}) {
  static readonly layer = Layer.effect(this)(this.make)

  static layerClient = fleet(this.layer, {})

  /** Upstream: `PgClient.makeClient`, one connection; here a fleet whose pools hold one connection each. */
  static layerMakeClient = fleet(this.layer, { minPoolSize: 1, maxPoolSize: 1 })

  static layerClientWithTransforms = fleet(this.layer, {
    transformResultNames: String.snakeToCamel,
    transformQueryNames: String.camelToSnake
  })

  static layerClientSingleConnection = fleet(this.layer, { minPoolSize: 1, maxPoolSize: 1 })
}

function fleet(
  container: Layer.Layer<PgContainer, ContainerError>,
  more: Partial<PostgresConfig.PostgresSettingsInput>
) {
  return Layer.unwrap(
    Effect.gen(function*() {
      const { cluster, database } = yield* PgContainer
      const settings: PostgresConfig.PostgresSettingsInput = {
        writerHosts: [`${cluster.writer.host}:${cluster.writer.port}`],
        readerHosts: cluster.readers.map((r) => `${r.host}:${r.port}`),
        username: cluster.username,
        password: cluster.env.DB_PASSWORD!,
        database,
        ...(target === "writer-sql-pg" ? { driver: "sql-pg" } : {}),
        ...more
      }
      if (target === "sql-pg") {
        const { password, username } = settings
        const { host, port } = cluster.writer
        const control: Layer.Layer<PgClient.PgClient | SqlClient.SqlClient, unknown> = PgClient.layer({
          url: Redacted.make(
            `postgres://${encodeURIComponent(username)}:${
              encodeURIComponent(password as string)
            }@${host}:${port}/${database}`
          ),
          ...(more.minPoolSize === 1 ? { maxConnections: 1 } : {}),
          ...(more.transformQueryNames ? { transformQueryNames: more.transformQueryNames } : {}),
          ...(more.transformResultNames ? { transformResultNames: more.transformResultNames } : {})
        })
        return control
      }
      const fleetClient = target === "reader" ? "reader" : "writer"
      const client = Layer.effectContext(
        Effect.map(
          Effect.service(Postgres.Postgres),
          (pg) =>
            Context.make(PgClient.PgClient, pg[fleetClient]).pipe(Context.add(SqlClient.SqlClient, pg[fleetClient]))
        )
      )
      // The fleet's own fibers (health probes, retries) keep the live clock: @effect/vitest's
      // it.layer provides TestClock to the layer, under which a probe loop would never tick.
      const fleetLayer: Layer.Layer<PgClient.PgClient | SqlClient.SqlClient, unknown> = client.pipe(
        Layer.provide(Postgres.layer(settings)),
        Layer.provide(Layer.succeed(Clock.Clock, Clock.Clock.defaultValue()))
      )
      return fleetLayer
    })
  ).pipe(Layer.provide(container))
}
