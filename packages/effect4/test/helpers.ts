import { TestCluster } from "@pgfleet/testing"
import { Effect, Layer, ManagedRuntime } from "effect"
import { Postgres, type PostgresConfig } from "../src/index.js"

/** The connection settings of a test cluster (from @pgfleet/testing's Promise API), with some changed. */
export const settingsOf = (
  cluster: TestCluster.TestClusterPromise,
  more: Partial<PostgresConfig.PostgresSettingsInput> = {}
): PostgresConfig.PostgresSettingsInput => ({
  writerHosts: [`${cluster.writer.host}:${cluster.writer.port}`],
  readerHosts: cluster.readers.map((r) => `${r.host}:${r.port}`),
  username: cluster.username,
  password: cluster.env.DB_PASSWORD!,
  database: cluster.database,
  ...more
})

/** A fleet built once, for a test file's statements; dispose it in afterAll. */
export const fleetRuntime = (settings: PostgresConfig.PostgresSettingsInput) =>
  ManagedRuntime.make(Layer.fresh(Postgres.layer(settings)))

export const startCluster = (replicas: number) => TestCluster.startTestCluster({ replicas })

/** The port of the server that ran the statement, and whether it is a standby. */
export const servedBy = (sql: Postgres.Service["reader"]) =>
  Effect.map(
    sql<
      { port: number; standby: boolean }
    >`SELECT current_setting('port')::int AS port, pg_is_in_recovery() AS standby`,
    (rows) => rows[0]!
  )
