import { TestCluster } from "@pgfleet/testing"
import { Effect, Layer, ManagedRuntime, Tracer } from "effect"
import { Postgres, type PostgresConfig, PostgresError } from "../src/index.js"

/**
 * The driver these tests run on: `node-postgres`, or `sql-pg` in the
 * `effect4 sql-pg` project (vitest.sql-pg.config.ts), which runs them all again.
 */
export const driver: "node-postgres" | "sql-pg" = process.env.PGFLEET_TEST_DRIVER === "sql-pg"
  ? "sql-pg"
  : "node-postgres"

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
  driver,
  ...more
})

/** A fleet built once, for a test file's statements; dispose it in afterAll. */
export const fleetRuntime = (settings: PostgresConfig.PostgresSettingsInput) =>
  ManagedRuntime.make(Layer.fresh(Postgres.layer(settings)))

/** Builds a fleet, runs `body` with it, and closes it, whatever `body` did. */
export const withFleet = async <A, E>(
  settings: PostgresConfig.PostgresSettingsInput,
  body: Effect.Effect<A, E, Postgres.Services>
): Promise<A> => {
  const runtime = fleetRuntime(settings)
  try {
    return await runtime.runPromise(body)
  } finally {
    await runtime.dispose()
  }
}

export const startCluster = (replicas: number) => TestCluster.startTestCluster({ replicas })

/** `host:port`. */
export const label = (h: { readonly host: string; readonly port: number }) => `${h.host}:${h.port}`

/** Fast probes, so a failover is seen within a second. */
export const fast = {
  healthCheckInterval: "200 millis",
  healthCheckTimeout: "300 millis",
  connectTimeout: "1 second",
  retryBase: "50 millis"
} as const

/** The port of the server that ran the statement, and whether it is a standby. */
export const servedBy = (sql: Postgres.Service["reader"]) =>
  Effect.map(
    sql<
      { port: number; standby: boolean }
    >`SELECT current_setting('port')::int AS port, pg_is_in_recovery() AS standby`,
    (rows) => rows[0]!
  )

/**
 * What a failed statement says: the reason of the `PostgresError` pgfleet
 * decided (a `SqlError`'s reason's cause), else the SQLSTATE, else the message.
 */
export const reasonOf = (error: unknown): string => {
  if (error instanceof PostgresError.PostgresError) return error.reason
  const cause = (error as { reason?: { cause?: unknown } } | null)?.reason?.cause
  if (cause instanceof PostgresError.PostgresError) return cause.reason
  const code = (cause as { code?: unknown } | null)?.code
  return typeof code === "string" ? code : String((error as { message?: unknown })?.message ?? error)
}

/** Runs `check` every 100 ms until it gives `true`; fails naming `what` after `attempts` tries. */
export const eventually = <E, R>(check: Effect.Effect<boolean, E, R>, what = "condition", attempts = 150) =>
  Effect.gen(function*() {
    for (let i = 0; i < attempts; i++) {
      const ok = yield* Effect.orElseSucceed(check, () => false)
      if (ok) return
      yield* Effect.sleep("100 millis")
    }
    return yield* Effect.die(new Error(`${what} did not hold after ${attempts} checks`))
  })

/** A tracer that keeps every span it starts, for checking their names and attributes. */
export const recordingTracer = () => {
  const spans: Array<Tracer.NativeSpan> = []
  const tracer = Tracer.make({
    span: (options) => {
      const span = new Tracer.NativeSpan(options)
      spans.push(span)
      return span
    }
  })
  return { spans, tracer }
}
