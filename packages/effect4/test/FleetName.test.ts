import { ConfigProvider, Effect, Layer, Logger, ManagedRuntime, Metric, References, Tracer } from "effect"
import { Statement } from "effect/sql"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { HealthMonitor, Postgres } from "../src/index.js"
import { driver, eventually, label, recordingTracer, startCluster } from "./helpers.js"

type Cluster = Awaited<ReturnType<typeof startCluster>>
let cluster: Cluster
beforeAll(async () => {
  cluster = await startCluster(2)
})
afterAll(() => cluster?.stop())

describe(`a named fleet (effect 4, ${driver}): its name and its metrics`, () => {
  it("layerFleet(\"ORDERS\") reads ORDERS_DB_*, and its stats, spans, logs and metrics say orders", async () => {
    const env = Object.fromEntries(Object.entries(cluster.env).map(([k, v]) => [`ORDERS_${k}`, v]))
    const { spans, tracer } = recordingTracer()
    const logs: Array<{ message: string; fleet: unknown }> = []
    const capture = Logger.make((options) => {
      logs.push({
        message: String(Array.isArray(options.message) ? options.message[0] : options.message),
        fleet: options.fiber.getRef(References.CurrentLogAnnotations).fleet
      })
    })
    // db.client.connection.count of the writer's pool, by state.
    const writerStates = (metrics: ReadonlyArray<Metric.Metric.Snapshot>) =>
      new Map(
        metrics.filter((m) =>
          m.id === "db.client.connection.count" &&
          m.attributes?.["db.client.connection.pool.name"] === `orders writer ${label(cluster.writer)}`
        ).map((m) => [m.attributes?.["db.client.connection.state"], (m.state as { value: number }).value])
      )
    const runtime = ManagedRuntime.make(
      Postgres.layerFleet("ORDERS").pipe(
        Layer.provide(
          ConfigProvider.layer(ConfigProvider.fromUnknown({
            ...env,
            ORDERS_DB_HEALTH_CHECK_INTERVAL_MS: "200",
            ORDERS_DB_DRIVER: driver
          }))
        ),
        Layer.provide(Logger.layer([capture])),
        Layer.provide(Layer.succeed(Tracer.Tracer, tracer))
      )
    )
    try {
      const outcome = await runtime.runPromise(
        Effect.gen(function*() {
          const pg = yield* Postgres.Postgres
          const monitor = yield* HealthMonitor.HealthMonitor
          yield* pg.writer`SELECT 1`
          for (let i = 0; i < 10; i++) yield* pg.reader`SELECT 1`
          const divisionByZero = yield* Effect.flip(pg.writer`SELECT 1/0`)
          // Inside a transaction, once a probe has run, the writer's pool shows a connection in use.
          yield* pg.writer.withTransaction(Effect.andThen(
            pg.writer`SELECT 1`,
            eventually(
              Effect.map(Metric.snapshot, (metrics) => (writerStates(metrics).get("used") ?? 0) >= 1),
              "db.client.connection.count used >= 1 inside a transaction"
            )
          ))
          // A replica stops: the monitor's warnings carry the fleet's name.
          const host = label(cluster.readers[0]!)
          yield* Effect.promise(() => cluster.stopReader(0, "immediate"))
          yield* eventually(Effect.sync(() => monitor.health(host).state === "down"), `${host} down`)
          return { stats: yield* pg.stats, metrics: yield* Metric.snapshot, divisionByZero }
        }).pipe(Effect.provideService(Statement.SpanPropagationEnabled, true), Effect.withTracer(tracer))
      )

      expect(new Set(outcome.stats.map((s) => s.fleet))).toEqual(new Set(["orders"]))
      // The fleet's own spans (pools opened at start) and every statement span carry its name.
      const opened = spans.filter((s) => s.name === "pgfleet.pool.open")
      expect(opened.length).toBe(3)
      for (const s of opened) expect(s.attributes.get("pgfleet.fleet")).toBe("orders")
      const statements = spans.filter((s) => s.name === "sql.execute")
      expect(statements.length).toBeGreaterThanOrEqual(11)
      for (const s of statements) {
        expect(s.attributes.get("pgfleet.fleet")).toBe("orders")
        expect(s.attributes.get("db.system.name")).toBe("postgresql")
        expect(s.attributes.get("db.namespace")).toBe(cluster.database)
        expect(s.attributes.get("server.port")).toBeTypeOf("number")
      }
      const down = logs.filter((l) => l.message.includes("is down"))
      expect(down.length).toBeGreaterThan(0)
      for (const l of down) expect(l.fleet).toBe("orders")

      // The metrics: OpenTelemetry's db.client.* names and attributes, as the Effect 3 line's.
      const series = (id: string) => outcome.metrics.filter((m) => m.id === id)
      const durations = series("db.client.operation.duration")
      const onReplica = durations.find((m) =>
        m.attributes?.["pgfleet.fleet"] === "orders" && m.attributes?.["pgfleet.route"] === "strategy"
      )
      expect(onReplica?.attributes).toMatchObject({
        "db.system.name": "postgresql",
        "db.namespace": cluster.database,
        "db.operation.name": "execute",
        "server.address": cluster.readers[0]!.host,
        unit: "s"
      })
      expect(cluster.readers.map((r) => String(r.port))).toContain(onReplica?.attributes?.["server.port"])
      // A failed statement's duration carries its error.type (the SQLSTATE).
      expect(outcome.divisionByZero).toBeDefined()
      expect(
        durations.find((m) => m.attributes?.["pgfleet.fleet"] === "orders" && m.attributes?.["error.type"] === "22012")
          ?.attributes
      ).toMatchObject({ "pgfleet.route": "writer", "server.address": cluster.writer.host })
      // Both connection states for the writer's pool: nothing used once the transaction has ended.
      expect(writerStates(outcome.metrics).get("used")).toBe(0)
      expect(writerStates(outcome.metrics).get("idle")).toBeGreaterThanOrEqual(1)
      const routed = series("pgfleet_reads_routed_total").filter((m) => m.attributes?.fleet === "orders")
      expect(routed.reduce((n, m) => n + (m.state as { count: number }).count, 0)).toBe(10)
      const poolNames = new Set(
        series("db.client.connection.count").map((m) => m.attributes?.["db.client.connection.pool.name"])
      )
      expect(poolNames).toContain(`orders writer ${label(cluster.writer)}`)
      expect(poolNames).toContain(`orders reader ${label(cluster.readers[1]!)}`)
      for (const id of ["db.client.connection.wait_time", "db.client.connection.use_time"]) {
        expect(series(id).some((m) => String(m.attributes?.["db.client.connection.pool.name"]).startsWith("orders ")))
          .toBe(true)
      }
      expect(
        series("pgfleet_host_down_total").some((m) =>
          m.attributes?.fleet === "orders" && m.attributes?.host === label(cluster.readers[0]!)
        )
      ).toBe(true)
    } finally {
      await runtime.dispose()
    }
  })
})
