import type { SqlError } from "@effect/sql/SqlError"
import { assert, describe, layer } from "@effect/vitest"
import { Check } from "@pgfleet/core"
import { HealthMonitor, Postgres, PostgresError, ReaderPools } from "@pgfleet/postgres"
import { eventually, TestCluster, untilStopped } from "@pgfleet/testing"
import { Effect, Either, Fiber, Layer, Ref } from "effect"
import { fleet, servedBy } from "./helpers.js"

// Every host behind its own PgBouncer 1.18+ in transaction pooling: `cluster.writer` and `cluster.readers` are the
// bouncers, `cluster.servers` the PostgreSQL servers behind them (`servedBy` answers a server's port).

/** Fast health checks, so faults behind a bouncer are seen within a second. */
const health = {
  healthCheckInterval: "200 millis",
  // Roomier than Failover.test's 300 ms: a bouncer per host adds processes on a small shared machine.
  healthCheckTimeout: "1 second",
  healthFailureThreshold: 2,
  connectTimeout: "1 second",
  retryBase: "50 millis"
} as const

const label = (h: { host: string; port: number }) => `${h.host}:${h.port}`
const stateOf = (host: string) => Effect.map(HealthMonitor.HealthMonitor, (m) => m.health(host))
const sqlState = (error: SqlError) => String((error.cause as { code?: string })?.code ?? error.message)

describe("behind PgBouncer (transaction pooling)", () => {
  layer(TestCluster.layer({ replicas: 2, bouncers: true }), { excludeTestServices: true, timeout: "90 seconds" })(
    (it) => {
      it.effect("routing: writes reach the primary, reads the replicas, through one bouncer per host", () =>
        Effect.gen(function*() {
          const cluster = yield* TestCluster.Cluster
          const pg = yield* Postgres.Postgres
          assert.notStrictEqual(cluster.writer.port, cluster.servers.writer.port)
          assert.strictEqual(yield* servedBy(pg.writer), cluster.servers.writer.port)
          const ports = yield* Effect.replicateEffect(servedBy(pg.reader), 20)
          assert.sameMembers([...new Set(ports)], cluster.servers.readers.map((r) => r.port))
          const stats = yield* pg.stats
          assert.deepStrictEqual(stats.map((s) => s.host), [cluster.writer, ...cluster.readers].map(label))
          assert.isTrue(stats.every((s) => s.health === "healthy"))
        }).pipe(Effect.provide(fleet({ readerStrategy: "round-robin" }))))

      it.effect("transactions: commit and rollback on the writer, a read-only transaction on one replica", () =>
        Effect.gen(function*() {
          const cluster = yield* TestCluster.Cluster
          const pg = yield* Postgres.Postgres
          yield* pg.writer`CREATE TABLE tx (id int PRIMARY KEY)`
          yield* pg.writer.withTransaction(Effect.gen(function*() {
            yield* pg.writer`INSERT INTO tx VALUES (1)`
            // Reads inside a writer transaction join it, across the bouncer: they see the uncommitted row.
            const inside = yield* pg.reader<{ n: number }>`SELECT count(*)::int AS n FROM tx`
            assert.strictEqual(inside[0]!.n, 1)
          }))
          const rolledBack = yield* Effect.either(pg.writer.withTransaction(Effect.gen(function*() {
            yield* pg.writer`INSERT INTO tx VALUES (2)`
            return yield* Effect.fail("abort")
          })))
          assert.isTrue(Either.isLeft(rolledBack))
          const [{ ids }] = yield* pg.writer<{ ids: string }>`SELECT string_agg(id::text, ',') AS ids FROM tx`
          assert.strictEqual(ids, "1")
          yield* cluster.waitForReplication()
          // Every statement of a read-only transaction runs on one replica's server connection.
          const seen = yield* pg.withReadOnlyTransaction(
            Effect.replicateEffect(
              Effect.map(
                pg.reader<
                  { port: number; pid: number }
                >`SELECT current_setting('port')::int AS port, pg_backend_pid() AS pid`,
                (rows) => `${rows[0]!.port}/${rows[0]!.pid}`
              ),
              10
            )
          )
          assert.strictEqual(new Set(seen).size, 1)
          assert.include(cluster.servers.readers.map((r) => r.port), Number(seen[0]!.split("/")[0]))
        }).pipe(Effect.provide(fleet())))

      it.effect("pg.auto and read-your-writes: a write then a read in one fiber sees the write", () =>
        Effect.gen(function*() {
          const cluster = yield* TestCluster.Cluster
          const pg = yield* Postgres.Postgres
          const auto = (statement: string) =>
            Effect.map(pg.auto.unsafe<{ port: number }>(statement), (rows) => rows[0]?.port)
          // Before any write of this fiber, a read through auto goes to a replica.
          assert.include(
            cluster.servers.readers.map((r) => r.port),
            yield* auto("SELECT current_setting('port')::int AS port")
          )
          yield* pg.writer`CREATE TABLE ryw (id int)`
          assert.strictEqual(
            yield* auto("INSERT INTO ryw VALUES (1) RETURNING current_setting('port')::int AS port"),
            cluster.servers.writer.port
          )
          // Replay paused: only the writer has the row, and auto's read must go where the write is visible.
          yield* cluster.pauseReplay(0)
          yield* cluster.pauseReplay(1)
          const read = yield* Effect.ensuring(
            Effect.gen(function*() {
              yield* pg.auto`INSERT INTO ryw VALUES (2)`
              return yield* pg.auto<{ n: number; port: number }>`
                SELECT count(*)::int AS n, current_setting('port')::int AS port FROM ryw`
            }),
            Effect.orDie(Effect.zipRight(cluster.resumeReplay(0), cluster.resumeReplay(1)))
          )
          assert.strictEqual(read[0]!.n, 2)
          assert.strictEqual(read[0]!.port, cluster.servers.writer.port)
        }).pipe(Effect.provide(fleet())))

      it.effect("a replica stopped behind its live bouncer under load: 0 reads fail, the other serves them", () =>
        Effect.gen(function*() {
          const cluster = yield* TestCluster.Cluster
          const pg = yield* Postgres.Postgres
          const [behind, other] = yield* ReaderPools.ReaderPools
          const stop = yield* Ref.make(false)
          const load = yield* Effect.fork(untilStopped(servedBy(pg.reader), 32, stop))
          yield* Effect.sleep("2 seconds")
          // The bouncer stays up and keeps accepting; the server behind it is gone.
          yield* cluster.stopReader(0, "immediate")
          yield* eventually(Effect.map(stateOf(behind!.host), (h) => h.state === "down"))
          yield* Effect.sleep("3 seconds")
          yield* Ref.set(stop, true)
          const { failed, failures, runs } = yield* Fiber.join(load)
          assert.deepStrictEqual(failures, [])
          assert.strictEqual(failed, 0)
          assert.isAbove(runs, 1000)
          const after = yield* Effect.replicateEffect(servedBy(pg.reader), 20)
          assert.deepStrictEqual([...new Set(after)], [cluster.servers.readers[1]!.port])
          assert.strictEqual(other!.host, label(cluster.readers[1]!))

          // Back behind the same bouncer: it serves reads again once a probe sees it.
          yield* cluster.startReader(0)
          yield* eventually(Effect.map(stateOf(behind!.host), (h) => h.state === "healthy"))
          const ports = yield* Effect.replicateEffect(servedBy(pg.reader), 30)
          assert.include(ports, cluster.servers.readers[0]!.port)
        }).pipe(Effect.provide(fleet({ ...health, readerStrategy: "round-robin", maxPoolSize: 8 }))))
    }
  )

  layer(TestCluster.layer({ replicas: 2, bouncers: true }), { excludeTestServices: true, timeout: "90 seconds" })(
    (it) => {
      it.effect("primary failover behind bouncers: writes follow the promoted replica, none reaches a standby", () =>
        Effect.gen(function*() {
          const cluster = yield* TestCluster.Cluster
          const pg = yield* Postgres.Postgres
          const [s0, s1] = cluster.servers.readers
          yield* pg.writer`CREATE TABLE moves (id serial PRIMARY KEY, port int)`
          yield* cluster.waitForReplication()
          const stop = yield* Ref.make(false)
          const written: Array<{ at: number; port: number | string }> = []
          const write = pg.writer<{ port: number }>`
            INSERT INTO moves (port) VALUES (current_setting('port')::int) RETURNING port`.pipe(
            Effect.map((rows) => rows[0]!.port),
            Effect.tap((port) => Effect.sync(() => written.push({ at: Date.now(), port }))),
            // Kept, then failed on: the load pauses after a failure instead of spinning on fast refusals.
            Effect.tapError((e) =>
              Effect.sync(() =>
                written.push({
                  at: Date.now(),
                  port: e.cause instanceof PostgresError.PostgresError ? e.cause.reason : sqlState(e)
                })
              )
            )
          )
          const writes = yield* Effect.fork(untilStopped(write, 4, stop))
          const reads = yield* Effect.fork(untilStopped(servedBy(pg.reader), 8, stop))
          yield* Effect.sleep("1 second")
          yield* cluster.stopWriter("fast")
          yield* cluster.promoteReader(0)
          yield* cluster.followWriter(1, 0)
          yield* eventually(Effect.sync(() => written.some((w) => w.port === s0!.port)))
          yield* Effect.sleep("1500 millis")
          yield* Ref.set(stop, true)
          yield* Fiber.join(writes)
          yield* Fiber.join(reads)

          const firstOnNew = written.findIndex((w) => w.port === s0!.port)
          const after = written.slice(firstOnNew)
          assert.isAbove(after.length, 10)
          assert.deepStrictEqual(after.filter((w) => typeof w.port === "number" && w.port !== s0!.port), [])
          const failures = written.flatMap((w) => typeof w.port === "string" ? [w.port] : [])
          // No write reached a standby (25006, read_only_sql_transaction).
          assert.notInclude(failures, "25006")
          // The old primary's bouncer still accepts: until its probes give it up, its last answer (primary) stands
          // beside the promoted one's, and writes are refused as SplitBrain, never sent.
          for (const reason of failures) {
            assert.include(["Unavailable", "NotSent", "OutcomeUnknown", "SplitBrain"], reason)
          }
          const stats = yield* pg.stats
          assert.strictEqual(stats[0]!.host, label(cluster.readers[0]!))
          assert.strictEqual(stats[0]!.role, "writer")
          // Reads go on, on the replica that stayed one (once it follows the new primary).
          yield* eventually(Effect.map(servedBy(pg.reader), (port) => port === s1!.port))
        }).pipe(Effect.provide(Layer.unwrapEffect(Effect.map(TestCluster.Cluster, (cluster) =>
          fleet({
            ...health,
            writerHosts: [label(cluster.writer), label(cluster.readers[0]!)],
            readerHosts: cluster.readers.map(label)
          }))))))
    }
  )

  /** The timeout the server gives the role, as an operator would set it. */
  const serverTimeoutMs = 700
  const setOnServer = Layer.effectDiscard(Effect.flatMap(
    TestCluster.Cluster,
    (cluster) => cluster.query("writer", `ALTER ROLE "${cluster.username}" SET statement_timeout = ${serverTimeoutMs}`)
  ))

  layer(
    Layer.provideMerge(
      setOnServer,
      TestCluster.layer({ replicas: 1, password: "Hunter2-behind-bouncers", bouncers: { poolSize: 4 } })
    ),
    { excludeTestServices: true, timeout: "60 seconds" }
  )((it) => {
    it.effect("verify mode: every statement on every server connection runs under the server's timeout", () =>
      Effect.gen(function*() {
        const cluster = yield* TestCluster.Cluster
        yield* cluster.waitForReplication()
        yield* Effect.gen(function*() {
          const pg = yield* Postgres.Postgres
          const seen = (sql: typeof pg.writer) =>
            Effect.forEach(
              Array.from({ length: 200 }),
              () =>
                Effect.map(
                  sql<{ timeout: string; pid: number }>`
                    SELECT current_setting('statement_timeout') AS timeout, pg_backend_pid() AS pid`,
                  (rows) => rows[0]!
                ),
              { concurrency: 8 }
            )
          for (const sql of [pg.writer, pg.reader]) {
            const rows = yield* seen(sql)
            assert.deepStrictEqual([...new Set(rows.map((r) => r.timeout))], ["700ms"])
            // Spread over more than one of the bouncer's server connections.
            assert.isAbove(new Set(rows.map((r) => r.pid)).size, 1)
            const error = yield* Effect.flip(sql`SELECT pg_sleep(2)`)
            assert.strictEqual(sqlState(error), "57014")
          }
        }).pipe(
          Effect.provide(fleet({ statementTimeout: `${serverTimeoutMs} millis`, statementTimeoutMode: "verify" }))
        )
      }))

    it.effect("verify mode: a server timeout other than the configured one fails at start, naming host and values", () =>
      Effect.gen(function*() {
        const cluster = yield* TestCluster.Cluster
        const error = yield* Effect.flip(
          Layer.build(fleet({ statementTimeout: "5 seconds", statementTimeoutMode: "verify", readerHosts: [] })).pipe(
            Effect.scoped
          )
        )
        assert.instanceOf(error, PostgresError.PostgresError)
        assert.strictEqual((error as PostgresError.PostgresError).reason, "Misconfigured")
        assert.include(error.message, `${label(cluster.writer)} runs statements under statement_timeout 700ms`)
        assert.include(error.message, "expected 5000 ms")
        assert.notInclude(error.message, cluster.env.DB_PASSWORD!)
      }))

    it.effect("pgfleet check reports the statement_timeout seen through each bouncer", () =>
      Effect.gen(function*() {
        const cluster = yield* TestCluster.Cluster
        const env = { ...cluster.env, DB_STATEMENT_TIMEOUT_MS: "700", DB_STATEMENT_TIMEOUT_MODE: "verify" }
        const report = yield* Effect.promise(() => Check.check(env))
        assert.strictEqual(report.status, "healthy")
        assert.deepStrictEqual(report.hosts.map((h) => [h.host, h.statementTimeout]), [
          [label(cluster.writer), "700ms"],
          [label(cluster.readers[0]!), "700ms"]
        ])
        assert.include(Check.render(report), "700ms")
        const wrong = yield* Effect.promise(() => Check.check({ ...env, DB_STATEMENT_TIMEOUT_MS: "5000" }))
        assert.strictEqual(wrong.exitCode, 2)
        assert.include(wrong.problems.join("\n"), "expected 5000 ms")
        assert.notInclude(Check.render(wrong) + JSON.stringify(wrong), "Hunter2")
      }))
  })
})
