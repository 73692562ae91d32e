import { assert, layer } from "@effect/vitest"
import { HealthMonitor, Postgres, ReaderPools } from "@pgfleet/postgres"
import { eventually, TestCluster } from "@pgfleet/testing"
import { Effect } from "effect"
import { fleet, servedBy } from "./helpers.js"

const fast = {
  healthCheckInterval: "200 millis",
  healthCheckTimeout: "500 millis",
  readerStrategy: "round-robin"
} as const

/** Which server answered, and whether it saw the row with id 1: one statement, so both come from the same server. */
const probeRow = (pg: Postgres.Service, table: string) =>
  Effect.map(
    pg.reader.unsafe<{ port: number; n: number }>(
      `SELECT current_setting('port')::int AS port, (SELECT count(*) FROM ${table} WHERE id = 1)::int AS n`
    ),
    (rows) => [rows[0]!.port, rows[0]!.n] as const
  )

layer(TestCluster.layer({ replicas: 2 }), { excludeTestServices: true, timeout: "60 seconds" })("lag", (it) => {
  it.effect("withReadYourWrites never reads from a replica that has not replayed the write", () =>
    Effect.gen(function*() {
      const cluster = yield* TestCluster.Cluster
      const pg = yield* Postgres.Postgres
      const [paused, live] = yield* ReaderPools.ReaderPools
      const monitor = yield* HealthMonitor.HealthMonitor
      yield* pg.writer`CREATE TABLE ryw_plain (id int)`
      yield* cluster.waitForReplication()
      yield* cluster.pauseReplay(0)
      yield* pg.writer`INSERT INTO ryw_plain VALUES (1)`

      // Without it, round-robin sends some reads to the paused replica, which misses the row.
      const plain = yield* Effect.replicateEffect(probeRow(pg, "ryw_plain"), 10)
      assert.isTrue(plain.some(([port, n]) => port === paused!.address.port && n === 0))

      const position = yield* pg.writerPosition
      const seen = yield* pg.readingAfter(position)(Effect.replicateEffect(probeRow(pg, "ryw_plain"), 30))
      assert.deepStrictEqual(seen.filter(([, n]) => n !== 1), [])
      assert.notInclude(seen.map(([port]) => port), paused!.address.port)

      // Once a probe has seen the live replica pass the position, it serves those reads.
      yield* eventually(
        Effect.sync(() => (monitor.health(live!.host).walLsn ?? 0n) >= HealthMonitor.parseLsn(position)),
        "live replica probed past the write"
      )
      const later = yield* pg.withReadYourWrites(Effect.replicateEffect(probeRow(pg, "ryw_plain"), 10))
      assert.include(later.map(([port]) => port), live!.address.port)
      assert.deepStrictEqual(later.filter(([, n]) => n !== 1), [])
      yield* cluster.resumeReplay(0)
    }).pipe(Effect.provide(fleet(fast))))

  it.effect("a replica whose replay delay exceeds DB_READER_MAX_LAG_MS is skipped until it catches up", () =>
    Effect.gen(function*() {
      const cluster = yield* TestCluster.Cluster
      const pg = yield* Postgres.Postgres
      const [lagging, live] = yield* ReaderPools.ReaderPools
      const monitor = yield* HealthMonitor.HealthMonitor
      yield* pg.writer`CREATE TABLE lagged (id int)`
      yield* cluster.waitForReplication()
      yield* cluster.pauseReplay(0)
      yield* pg.writer`INSERT INTO lagged VALUES (1)`
      yield* eventually(Effect.sync(() => (monitor.health(lagging!.host).lagSeconds ?? 0) > 1), "replay delay over 1 s")
      const ports = yield* Effect.replicateEffect(servedBy(pg.reader), 10)
      assert.deepStrictEqual([...new Set(ports)], [live!.address.port])
      const stats = yield* pg.stats
      assert.isAbove(stats.find((s) => s.host === lagging!.host)!.lagBytes!, 0)

      yield* cluster.resumeReplay(0)
      yield* eventually(Effect.sync(() => monitor.health(lagging!.host).lagSeconds === 0), "caught up")
      const after = yield* Effect.replicateEffect(servedBy(pg.reader), 10)
      assert.include(after, lagging!.address.port)
    }).pipe(Effect.provide(fleet({ ...fast, maxReplicaLag: "1 second" }))))
})
