import type { SqlError } from "@effect/sql/SqlError"
import { assert, describe, layer } from "@effect/vitest"
import { HealthMonitor, Postgres, PostgresError } from "@pgfleet/postgres"
import { eventually, TcpProxy, TestCluster } from "@pgfleet/testing"
import { Effect, Either, Fiber, Layer, Metric, MetricState, Redacted, Ref, Stream } from "effect"
import { fleet } from "./helpers.js"

/** Fast probes, so a failover is seen within a second. */
const fast = {
  healthCheckInterval: "200 millis",
  healthCheckTimeout: "300 millis",
  connectTimeout: "1 second",
  retryBase: "50 millis"
} as const

const label = (h: { host: string; port: number }) => `${h.host}:${h.port}`

/** What a failed write says: the PostgresError reason, else the SQLSTATE. */
const reasonOf = (error: SqlError) =>
  error.cause instanceof PostgresError.PostgresError
    ? error.cause.reason
    : String((error.cause as { code?: string })?.code ?? error.message)

/** Fibers that repeat `op` until `stop`, keeping every outcome with its time. */
const loop = <A>(op: Effect.Effect<A, SqlError>, fibers: number, stop: Ref.Ref<boolean>) =>
  Effect.forEach(
    Array.from({ length: fibers }),
    () =>
      Effect.gen(function*() {
        const outcomes: Array<{ at: number; result: Either.Either<A, string> }> = []
        while (!(yield* Ref.get(stop))) {
          const result = yield* Effect.either(op)
          outcomes.push({ at: Date.now(), result: Either.mapLeft(result, reasonOf) })
          if (Either.isLeft(result)) yield* Effect.sleep("20 millis")
        }
        return outcomes
      }),
    { concurrency: "unbounded" }
  ).pipe(Effect.map((all) => all.flat().sort((a, b) => a.at - b.at)))

describe("primary failover", () => {
  layer(TestCluster.layer({ replicas: 2 }), { excludeTestServices: true, timeout: "90 seconds" })((it) => {
    it.effect("writes follow a promoted replica under 4 writers and 16 readers; no write reaches a standby", () =>
      Effect.gen(function*() {
        const cluster = yield* TestCluster.Cluster
        const pg = yield* Postgres.Postgres
        const [r0, r1] = cluster.readers
        yield* pg.writer`CREATE TABLE moves (id serial PRIMARY KEY, port int)`
        yield* cluster.waitForReplication()
        const stop = yield* Ref.make(false)
        const port = (sql: typeof pg.writer, statement: string) =>
          Effect.map(sql.unsafe<{ port: number }>(statement), (rows) => rows[0]!.port)
        const writes = yield* Effect.fork(
          loop(
            port(pg.writer, "INSERT INTO moves (port) VALUES (current_setting('port')::int) RETURNING port"),
            4,
            stop
          )
        )
        const reads = yield* Effect.fork(loop(port(pg.reader, "SELECT current_setting('port')::int AS port"), 16, stop))
        const received: Array<string> = []
        yield* Effect.fork(Stream.runForEach(pg.writer.listen("moves"), (p) => Effect.sync(() => received.push(p))))
        yield* Effect.sleep("1 second")
        yield* cluster.stopWriter("fast")
        yield* cluster.promoteReader(0)
        yield* cluster.followWriter(1, 0)
        yield* eventually(
          Effect.map(
            Effect.either(port(pg.writer, "SELECT current_setting('port')::int AS port")),
            (r) => Either.isRight(r) && r.right === r0!.port
          )
        )
        yield* Effect.sleep("1500 millis")
        yield* Ref.set(stop, true)
        const written = yield* Fiber.join(writes)
        const read = yield* Fiber.join(reads)

        const firstOnNew = written.find((w) => Either.isRight(w.result) && w.result.right === r0!.port)
        assert.isDefined(firstOnNew, "a write landed on the promoted replica")
        const afterSwitch = written.filter((w) => w.at > firstOnNew!.at)
        assert.isAbove(afterSwitch.length, 10)
        // Every write after the switch landed on the new primary.
        assert.deepStrictEqual(
          afterSwitch.filter((w) => Either.isRight(w.result) && w.result.right !== r0!.port),
          []
        )
        const failures = written.flatMap((w) => Either.isLeft(w.result) ? [w.result.left] : [])
        // No write was ever sent to a standby (it would fail with 25006, read_only_sql_transaction).
        assert.notInclude(failures, "25006")
        for (const reason of failures) assert.include(["Unavailable", "NotSent", "OutcomeUnknown"], reason)
        // Reads go on, on the replica that stayed one.
        assert.isTrue(
          read.some((r) => r.at > firstOnNew!.at && Either.isRight(r.result) && r.result.right === r1!.port)
        )
        // Routing, stats and the monitor name the new writer.
        const stats = yield* pg.stats
        assert.strictEqual(stats[0]!.host, label(r0!))
        assert.strictEqual(stats[0]!.role, "writer")
        // The promoted host is up as the writer, and no longer up as a reader (a dashboard shows one role).
        const hostUp = Effect.map(Metric.snapshot, (pairs) =>
          Object.fromEntries(
            pairs.filter((p) =>
              p.metricKey.name === "pgfleet_host_up" &&
              p.metricKey.tags.some((t) => t.key === "host" && t.value === label(r0!))
            ).map((p) => [
              p.metricKey.tags.find((t) => t.key === "role")!.value,
              MetricState.isGaugeState(p.metricState) ? p.metricState.value : undefined
            ])
          ))
        yield* eventually(
          Effect.map(hostUp, (byRole) => byRole.writer === 1 && byRole.reader === 0),
          "the promoted host's pgfleet_host_up: 1 as writer, 0 as reader"
        )
        // Durations name the server that ran each statement: every write that landed on the promoted
        // replica is counted under its port, though the writer's routing decision is the same object.
        const writerDurations = yield* Effect.map(Metric.snapshot, (pairs) =>
          pairs.flatMap((p) => {
            const tag = (key: string) => p.metricKey.tags.find((t) => t.key === key)?.value
            return p.metricKey.name === "db.client.operation.duration" && tag("pgfleet.route") === "writer" &&
                tag("error.type") === undefined && MetricState.isHistogramState(p.metricState)
              ? [{ port: tag("server.port"), count: p.metricState.count }]
              : []
          }))
        const countOn = (port: number) =>
          writerDurations.filter((d) => d.port === String(port)).reduce((n, d) => n + d.count, 0)
        const landedOn = (port: number) =>
          written.filter((w) => Either.isRight(w.result) && w.result.right === port).length
        assert.isAtLeast(countOn(r0!.port), landedOn(r0!.port))
        assert.isAtLeast(countOn(cluster.writer.port), landedOn(cluster.writer.port))
        // config describes the fleet as it is now.
        assert.strictEqual(pg.writer.config.port, r0!.port)
        assert.include(Redacted.value(pg.writer.config.url!), `:${r0!.port}/`)
        // listen, started before the failover, hears what is sent on the new primary.
        yield* eventually(
          Effect.gen(function*() {
            yield* pg.writer.notify("moves", "after")
            return received.includes("after")
          }),
          "listen heard the new primary"
        )
      }).pipe(Effect.provide(Layer.unwrapEffect(Effect.map(TestCluster.Cluster, (cluster) =>
        fleet({
          ...fast,
          writerHosts: [label(cluster.writer), label(cluster.readers[0]!)],
          readerHosts: cluster.readers.map(label)
        }))))))
  })

  layer(TestCluster.layer({ replicas: 1 }), { excludeTestServices: true, timeout: "60 seconds" })((it) => {
    it.effect("two primaries at once: writes are refused with SplitBrain and land nowhere", () =>
      Effect.gen(function*() {
        const cluster = yield* TestCluster.Cluster
        const pg = yield* Postgres.Postgres
        const monitor = yield* HealthMonitor.HealthMonitor
        yield* pg.writer`CREATE TABLE split (id int)`
        yield* cluster.waitForReplication()
        yield* cluster.promoteReader(0)
        yield* eventually(Effect.sync(() => monitor.splitBrain() !== undefined))
        const attempts = yield* Effect.forEach(
          Array.from({ length: 20 }),
          (_, i) => Effect.flip(pg.writer`INSERT INTO split VALUES (${i})`)
        )
        assert.deepStrictEqual([...new Set(attempts.map(reasonOf))], ["SplitBrain"])
        assert.include(attempts[0]!.message, label(cluster.writer))
        assert.include(attempts[0]!.message, label(cluster.readers[0]!))
        for (const member of ["writer", 0] as const) {
          const [row] = yield* cluster.query<{ n: number }>(member, "SELECT count(*)::int AS n FROM split")
          assert.strictEqual(row!.n, 0)
        }
        // Starting against two primaries fails, naming both; pgfleet never guesses.
        const atStart = yield* Effect.flip(
          Layer.build(
            fleet({ ...fast, writerHosts: [label(cluster.writer), label(cluster.readers[0]!)], readerHosts: [] })
          ).pipe(Effect.scoped)
        )
        assert.instanceOf(atStart, PostgresError.PostgresError)
        assert.strictEqual((atStart as PostgresError.PostgresError).reason, "SplitBrain")
        assert.include(atStart.message, label(cluster.readers[0]!))
      }).pipe(
        Effect.provide(
          Layer.unwrapEffect(
            Effect.map(
              TestCluster.Cluster,
              (cluster) =>
                fleet({ ...fast, writerHosts: [label(cluster.writer), label(cluster.readers[0]!)], readerHosts: [] })
            )
          )
        )
      ))
  })

  layer(TestCluster.layer({ replicas: 1 }), { excludeTestServices: true, timeout: "60 seconds" })((it) => {
    it.effect("a writer address that moved (a VIP flip): writes resume without a restart", () =>
      Effect.gen(function*() {
        const cluster = yield* TestCluster.Cluster
        const proxy = yield* TcpProxy.make(cluster.writer)
        const written = (pg: Postgres.Service) =>
          Effect.map(pg.writer<{ port: number }>`SELECT current_setting('port')::int AS port`, (r) => r[0]!.port)
        yield* Effect.gen(function*() {
          const pg = yield* Postgres.Postgres
          assert.strictEqual(yield* written(pg), cluster.writer.port)
          yield* cluster.stopWriter("fast")
          yield* cluster.promoteReader(0)
          yield* proxy.retarget(cluster.readers[0]!)
          yield* eventually(Effect.map(Effect.either(written(pg)), (r) => Either.isRight(r)))
          assert.strictEqual(yield* written(pg), cluster.readers[0]!.port)
        }).pipe(Effect.provide(fleet({ ...fast, writerHosts: [label(proxy)], readerHosts: [] })))
      }).pipe(Effect.scoped))
  })

  layer(TestCluster.layer({ replicas: 1 }), { excludeTestServices: true, timeout: "60 seconds" })((it) => {
    it.effect("a COMMIT whose connection is killed is OutcomeUnknown", () =>
      Effect.gen(function*() {
        const cluster = yield* TestCluster.Cluster
        const pg = yield* Postgres.Postgres
        // A deferred constraint trigger that sleeps makes COMMIT itself take 3 s.
        yield* pg.writer.unsafe(`CREATE TABLE slow_commit (id int);
          CREATE FUNCTION sleepy() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(3); RETURN NULL; END $$;
          CREATE CONSTRAINT TRIGGER at_commit AFTER INSERT ON slow_commit DEFERRABLE INITIALLY DEFERRED
            FOR EACH ROW EXECUTE FUNCTION sleepy()`)
        const commit = yield* Effect.fork(
          Effect.flip(pg.writer.withTransaction(pg.writer`INSERT INTO slow_commit VALUES (1)`))
        )
        yield* eventually(Effect.map(
          cluster.query<{ n: number }>(
            "writer",
            "SELECT count(*)::int AS n FROM pg_stat_activity WHERE query = 'COMMIT' AND state = 'active'"
          ),
          (rows) => rows[0]!.n === 1
        ))
        yield* cluster.query(
          "writer",
          "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = 'COMMIT' AND state = 'active'"
        )
        const error = yield* Fiber.join(commit)
        assert.strictEqual(reasonOf(error), "OutcomeUnknown")
        assert.include(error.message, "COMMIT")
      }).pipe(Effect.provide(fleet({ healthCheckInterval: "10 seconds" }))))

    it.effect("no candidate is a primary at start: retried, then ConnectFailed naming what each answered", () =>
      Effect.gen(function*() {
        const cluster = yield* TestCluster.Cluster
        const error = yield* Effect.flip(
          Layer.build(
            fleet({
              ...fast,
              writerHosts: [label(cluster.readers[0]!), "127.0.0.1:1"],
              readerHosts: [],
              retryMaxAttempts: 2
            })
          ).pipe(Effect.scoped)
        )
        assert.instanceOf(error, PostgresError.PostgresError)
        assert.strictEqual((error as PostgresError.PostgresError).reason, "ConnectFailed")
        assert.include(error.message, `${label(cluster.readers[0]!)}: standby`)
        assert.include(error.message, "127.0.0.1:1: connect ECONNREFUSED")
      }))

    it.effect("a write whose connection could not be had is NotSent: safe to retry", () =>
      Effect.gen(function*() {
        const cluster = yield* TestCluster.Cluster
        const pg = yield* Postgres.Postgres
        yield* cluster.stopWriter("immediate")
        // The pool's idle connections see their sockets close; then a write needs a new one, and is refused.
        yield* Effect.sleep("500 millis")
        const error = yield* Effect.flip(pg.writer`SELECT 1`).pipe(
          Effect.ensuring(Effect.orDie(cluster.startWriter()))
        )
        assert.strictEqual(reasonOf(error), "NotSent")
      }).pipe(Effect.provide(fleet({ healthCheckInterval: "10 seconds", minPoolSize: 1 }))))
  })
})
