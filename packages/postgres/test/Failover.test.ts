import { assert, describe, layer } from "@effect/vitest"
import { HealthMonitor, Postgres, PostgresError, PostgresMetrics, ReaderPools } from "@pgfleet/postgres"
import { eventually, TcpProxy, TestCluster, untilStopped } from "@pgfleet/testing"
import { Duration, Effect, Exit, Fiber, Metric, Ref, Schedule } from "effect"
import { connectionsNamed, fleet, servedBy } from "./helpers.js"

/** Fast health checks, so faults are seen within a second. */
const health = {
  healthCheckInterval: "200 millis",
  healthCheckTimeout: "300 millis",
  healthFailureThreshold: 2,
  connectTimeout: "1 second",
  retryBase: "50 millis"
} as const

const stateOf = (host: string) => Effect.map(HealthMonitor.HealthMonitor, (m) => m.health(host))

const routedTo = (host: string) =>
  Metric.value(PostgresMetrics.readsRoutedTo(host, "strategy")).pipe(
    Effect.map((s) => s.count)
  )

layer(TestCluster.layer({ replicas: 2 }), { excludeTestServices: true, timeout: "60 seconds" })("failover", (it) => {
  it.effect("a replica killed under load: zero reads fail, and none is routed to it after detection", () =>
    Effect.gen(function*() {
      const cluster = yield* TestCluster.Cluster
      const pg = yield* Postgres.Postgres
      const [dead, alive] = yield* ReaderPools.ReaderPools
      const stop = yield* Ref.make(false)
      const load = yield* Effect.fork(untilStopped(servedBy(pg.reader), 32, stop))
      yield* Effect.sleep("2 seconds")
      yield* cluster.stopReader(0, "immediate")
      yield* eventually(Effect.map(stateOf(dead!.host), (h) => h.state === "down"))
      const routedAtDetection = yield* routedTo(dead!.host)
      yield* Effect.sleep("3 seconds")
      yield* Ref.set(stop, true)
      const { failed, failures, runs } = yield* Fiber.join(load)
      assert.deepStrictEqual(failures, [])
      assert.strictEqual(failed, 0)
      assert.isAbove(runs, 100)
      assert.strictEqual(yield* routedTo(dead!.host), routedAtDetection)
      assert.isAbove(yield* routedTo(alive!.host), 0)

      // Back: it serves reads again once a probe sees it.
      yield* cluster.startReader(0)
      yield* eventually(Effect.map(stateOf(dead!.host), (h) => h.state === "healthy"))
      const ports = yield* Effect.replicateEffect(servedBy(pg.reader), 30)
      assert.include(ports, dead!.address.port)
    }).pipe(Effect.provide(fleet({ ...health, readerStrategy: "round-robin", maxPoolSize: 8 }))))

  it.effect("all replicas down: reads go to the writer; with DB_READER_FALLBACK=fail the typed error arrives", () =>
    Effect.gen(function*() {
      const cluster = yield* TestCluster.Cluster
      const check = (readerFallback: "writer" | "fail") =>
        Effect.gen(function*() {
          const pg = yield* Postgres.Postgres
          const pools = yield* ReaderPools.ReaderPools
          yield* Effect.forEach(pools, (p) => eventually(Effect.map(stateOf(p.host), (h) => h.state === "down")))
          return yield* Effect.either(Effect.replicateEffect(servedBy(pg.reader), 5))
        }).pipe(Effect.provide(fleet({ ...health, readerFallback })))

      // Both pools open while the replicas are up; then both die.
      const fallback = yield* Effect.fork(check("writer"))
      const failing = yield* Effect.fork(check("fail"))
      yield* Effect.sleep("1 second")
      yield* cluster.stopReader(0, "immediate")
      yield* cluster.stopReader(1, "immediate")
      const viaWriter = yield* Fiber.join(fallback)
      const refused = yield* Fiber.join(failing)
      yield* cluster.startReader(0)
      yield* cluster.startReader(1)

      assert.strictEqual(viaWriter._tag, "Right")
      assert.deepStrictEqual(viaWriter._tag === "Right" && [...new Set(viaWriter.right)], [cluster.writer.port])
      assert.strictEqual(refused._tag, "Left")
      const error = refused._tag === "Left" ? refused.left : undefined
      assert.instanceOf(error?.cause, PostgresError.PostgresError)
      assert.strictEqual((error?.cause as PostgresError.PostgresError).reason, "NoHealthyReader")
      assert.include(error!.message, "down")
    }))

  it.effect("writer stopped and started under write load: writes fail typed, then recover; reads go on", () =>
    Effect.gen(function*() {
      const cluster = yield* TestCluster.Cluster
      const pg = yield* Postgres.Postgres
      yield* pg.writer`CREATE TABLE IF NOT EXISTS writes (id serial PRIMARY KEY, at timestamptz DEFAULT now())`
      const stop = yield* Ref.make(false)
      const reads = yield* Effect.fork(untilStopped(servedBy(pg.reader), 4, stop))
      const writes = yield* Effect.fork(untilStopped(pg.writer`INSERT INTO writes DEFAULT VALUES`, 4, stop))
      yield* Effect.sleep("1 second")
      yield* cluster.stopWriter("fast")
      // Writes fail fast while it is down.
      const failedFast = yield* Effect.flip(pg.writer`INSERT INTO writes DEFAULT VALUES`).pipe(
        Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.intersect(Schedule.recurs(50)))),
        Effect.repeat({ until: (e) => e.cause instanceof PostgresError.PostgresError, times: 50 })
      )
      assert.strictEqual((failedFast.cause as PostgresError.PostgresError).reason, "Unavailable")
      yield* Effect.sleep("1 second")
      yield* cluster.startWriter()
      yield* eventually(
        Effect.map(Effect.either(pg.writer`INSERT INTO writes DEFAULT VALUES`), (e) => e._tag === "Right")
      )
      yield* Effect.sleep("1 second")
      yield* Ref.set(stop, true)
      const readResult = yield* Fiber.join(reads)
      const writeResult = yield* Fiber.join(writes)
      assert.deepStrictEqual(readResult.failures, [])
      assert.isAbove(writeResult.failed, 0)
      assert.isAbove(writeResult.runs, writeResult.failed)
    }).pipe(Effect.provide(fleet(health))))

  it.effect("a blackholed replica: reads continue on the other, none waits past the configured timeouts", () =>
    Effect.gen(function*() {
      const cluster = yield* TestCluster.Cluster
      const proxies = yield* Effect.forEach(cluster.readers, TcpProxy.make)
      const settings = {
        ...health,
        readerHosts: proxies.map((p) => `${p.host}:${p.port}`),
        readerStrategy: "round-robin" as const
      }
      // One read may wait for a connect timeout, or for the probes to give the host up; then it is retried.
      const bound = Duration.sum(
        Duration.decode(settings.connectTimeout),
        Duration.times(Duration.sum(settings.healthCheckInterval, settings.healthCheckTimeout), 2 * 2)
      )
      yield* Effect.gen(function*() {
        const pg = yield* Postgres.Postgres
        const [holed, other] = yield* ReaderPools.ReaderPools
        const stop = yield* Ref.make(false)
        const read = servedBy(pg.reader).pipe(
          Effect.timeoutFail({
            duration: bound,
            onTimeout: () => `a read waited longer than ${Duration.format(bound)}`
          })
        )
        const load = yield* Effect.fork(untilStopped(read, 16, stop))
        yield* Effect.sleep("1 second")
        yield* proxies[0]!.setMode("blackhole")
        yield* eventually(Effect.map(stateOf(holed!.host), (h) => h.state === "down"))
        yield* Effect.sleep("2 seconds")
        yield* Ref.set(stop, true)
        const { failed, failures } = yield* Fiber.join(load)
        assert.deepStrictEqual(failures, [])
        assert.strictEqual(failed, 0)
        assert.isAbove(yield* routedTo(other!.host), 0)
        yield* proxies[0]!.setMode("forward")
        yield* eventually(Effect.map(stateOf(holed!.host), (h) => h.state === "healthy"))
      }).pipe(Effect.provide(fleet(settings)))
    }).pipe(Effect.scoped))

  it.effect("interrupting 100 in-flight reads closes everything; no connection of ours is left", () =>
    Effect.gen(function*() {
      const cluster = yield* TestCluster.Cluster
      const applicationName = "pgfleet-interrupt"
      const started = yield* Ref.make(0)
      const program = Effect.gen(function*() {
        const pg = yield* Postgres.Postgres
        yield* Effect.forEach(
          Array.from({ length: 100 }),
          () => Ref.update(started, (n) => n + 1).pipe(Effect.zipRight(pg.reader`SELECT pg_sleep(30)`)),
          { concurrency: "unbounded", discard: true }
        )
      }).pipe(Effect.provide(fleet({ ...health, applicationName, closeGrace: "1 second" })))
      const fiber = yield* Effect.fork(program)
      yield* eventually(Effect.map(Ref.get(started), (n) => n === 100))
      yield* eventually(Effect.map(connectionsNamed(cluster, applicationName), (n) => n >= 20))
      // Must not hang: the close is bounded by the grace period and the cancel timeouts.
      const exit = yield* Fiber.interrupt(fiber).pipe(Effect.timeout("20 seconds"))
      assert.isTrue(Exit.isInterrupted(exit))
      yield* eventually(Effect.map(connectionsNamed(cluster, applicationName), (n) => n === 0))
      const [sleeping] = yield* cluster.query<{ n: number }>(
        "writer",
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(30)%'"
      )
      assert.strictEqual(sleeping!.n, 0)
    }))
})

describe("promotion", () => {
  layer(TestCluster.layer({ replicas: 2 }), { excludeTestServices: true, timeout: "60 seconds" })((it) => {
    it.effect("a replica promoted with pg_promote() leaves reader routing and is reported as a role change", () =>
      Effect.gen(function*() {
        const cluster = yield* TestCluster.Cluster
        const pg = yield* Postgres.Postgres
        const [kept, promoted] = yield* ReaderPools.ReaderPools
        yield* cluster.promoteReader(1)
        yield* eventually(Effect.map(stateOf(promoted!.host), (h) => h.roleMismatch))
        const stats = yield* pg.stats
        const row = stats.find((s) => s.host === promoted!.host)!
        assert.strictEqual(row.observedRole, "primary")
        assert.isTrue(row.roleMismatch)
        const ports = yield* Effect.replicateEffect(servedBy(pg.reader), 20)
        assert.deepStrictEqual([...new Set(ports)], [kept!.address.port])
      }).pipe(Effect.provide(fleet({ ...health, readerStrategy: "round-robin" }))))
  })
})
