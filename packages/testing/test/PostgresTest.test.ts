import { assert, it } from "@effect/vitest"
import { Postgres, ReaderPools } from "@pgfleet/postgres"
import { PostgresTest, TestCluster } from "@pgfleet/testing"
import { Effect } from "effect"

// The README's example, as written: all a user's test needs is it.layer(PostgresTest).
it.layer(PostgresTest)((it) => {
  it.effect("reads come from a standby", () =>
    Effect.gen(function*() {
      const pg = yield* Postgres.Postgres
      const [row] = yield* pg.reader<{ standby: boolean }>`SELECT pg_is_in_recovery() AS standby`
      assert.isTrue(row!.standby)
    }))

  it.effect("it is a fresh cluster with 2 replicas, and the cluster is there for faults", () =>
    Effect.gen(function*() {
      const cluster = yield* TestCluster.Cluster
      const readers = yield* ReaderPools.ReaderPools
      assert.strictEqual(cluster.readers.length, 2)
      assert.deepStrictEqual(readers.map((r) => r.address.port), cluster.readers.map((r) => r.port))
    }))
})
