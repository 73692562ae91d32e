import { assert, layer } from "@effect/vitest"
import { Postgres, ReaderPools, ReaderStrategy } from "@pgfleet/postgres"
import { TestCluster } from "@pgfleet/testing"
import { Effect, Layer } from "effect"
import { fleet, servedBy } from "./helpers.js"

const READS = 60

layer(TestCluster.layer({ replicas: 2 }), { excludeTestServices: true, timeout: "60 seconds" })("routing", (it) => {
  for (const readerStrategy of ["random", "round-robin", "least-connections"] as const) {
    it.effect(`${readerStrategy} spreads reads over every replica and never the writer`, () =>
      Effect.gen(function*() {
        const cluster = yield* TestCluster.Cluster
        const pg = yield* Postgres.Postgres
        const ports = yield* Effect.replicateEffect(servedBy(pg.reader), READS)
        const readerPorts = cluster.readers.map((r) => r.port).sort()
        assert.deepStrictEqual([...new Set(ports)].sort(), readerPorts)
        assert.notInclude(ports, cluster.writer.port)
      }).pipe(Effect.provide(fleet({ readerStrategy }))))
  }

  it.effect("round-robin alternates exactly", () =>
    Effect.gen(function*() {
      const pg = yield* Postgres.Postgres
      const ports = yield* Effect.replicateEffect(servedBy(pg.reader), 10)
      for (let i = 2; i < ports.length; i++) {
        assert.notStrictEqual(ports[i], ports[i - 1])
        assert.strictEqual(ports[i], ports[i - 2])
      }
    }).pipe(Effect.provide(fleet({ readerStrategy: "round-robin" }))))

  it.effect("least-connections avoids a replica whose connections are held", () =>
    Effect.gen(function*() {
      const pools = yield* ReaderPools.ReaderPools
      const pg = yield* Postgres.Postgres
      const busy = pools[0]!
      // Hold three of the first replica's connections for the rest of the test.
      yield* Effect.replicateEffect(busy.client.reserve, 3)
      assert.strictEqual(busy.counts().inUse, 3)
      const ports = yield* Effect.replicateEffect(servedBy(pg.reader), 20)
      assert.deepStrictEqual([...new Set(ports)], [pools[1]!.address.port])
    }).pipe(Effect.scoped, Effect.provide(fleet({ readerStrategy: "least-connections", maxPoolSize: 5 }))))

  it.effect("with no readers configured, reads go to the writer", () =>
    Effect.gen(function*() {
      const cluster = yield* TestCluster.Cluster
      const pg = yield* Postgres.Postgres
      const ports = yield* Effect.replicateEffect(servedBy(pg.reader), 5)
      assert.deepStrictEqual([...new Set(ports)], [cluster.writer.port])
    }).pipe(Effect.provide(fleet({ readerHosts: [] }))))

  it.effect("a statement through writer never lands on a replica", () =>
    Effect.gen(function*() {
      const cluster = yield* TestCluster.Cluster
      const pg = yield* Postgres.Postgres
      const ports = yield* Effect.replicateEffect(servedBy(pg.writer), 20)
      assert.deepStrictEqual([...new Set(ports)], [cluster.writer.port])
      const [row] = yield* pg.writer<{ standby: boolean }>`SELECT pg_is_in_recovery() AS standby`
      assert.isFalse(row!.standby)
    }).pipe(Effect.provide(fleet())))

  it.effect("withReader and withWriter bind SqlClient to each side", () =>
    Effect.gen(function*() {
      const cluster = yield* TestCluster.Cluster
      const pg = yield* Postgres.Postgres
      const { SqlClient } = yield* Effect.promise(() => import("@effect/sql"))
      const viaClient = Effect.flatMap(SqlClient.SqlClient, servedBy)
      assert.strictEqual(yield* pg.withWriter(viaClient), cluster.writer.port)
      assert.include(cluster.readers.map((r) => r.port), yield* pg.withReader(viaClient))
      // The generic SqlClient provided by the layer is the writer.
      assert.strictEqual(yield* viaClient, cluster.writer.port)
    }).pipe(Effect.provide(fleet())))

  it.effect("a transaction on the reader stays on one replica", () =>
    Effect.gen(function*() {
      const pg = yield* Postgres.Postgres
      for (let i = 0; i < 5; i++) {
        const ports = yield* pg.reader.withTransaction(Effect.replicateEffect(servedBy(pg.reader), 6))
        assert.strictEqual(new Set(ports).size, 1)
      }
    }).pipe(Effect.provide(fleet({ readerStrategy: "round-robin" }))))

  it.effect("inside a writer transaction, reads see its uncommitted writes", () =>
    Effect.gen(function*() {
      const pg = yield* Postgres.Postgres
      yield* pg.writer`CREATE TABLE IF NOT EXISTS ryw (id int)`
      const seen = yield* pg.writer.withTransaction(Effect.gen(function*() {
        yield* pg.writer`INSERT INTO ryw VALUES (42)`
        return yield* pg.reader<{ n: number }>`SELECT count(*)::int AS n FROM ryw WHERE id = 42`
      }))
      assert.strictEqual(seen[0]!.n, 1)
    }).pipe(Effect.provide(fleet())))

  it.effect("a strategy provided as a layer replaces the configured one", () =>
    Effect.gen(function*() {
      const pools = yield* ReaderPools.ReaderPools
      const pg = yield* Postgres.Postgres
      const ports = yield* Effect.replicateEffect(servedBy(pg.reader), 10)
      assert.deepStrictEqual([...new Set(ports)], [pools[1]!.address.port])
    }).pipe(
      Effect.provide(fleet().pipe(Layer.provide(ReaderStrategy.layer({ name: "last", pick: (c) => c[c.length - 1]! }))))
    ))
})
