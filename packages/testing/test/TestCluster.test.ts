import { assert, describe, it, layer } from "@effect/vitest"
import { TestCluster } from "@pgfleet/testing"
import { Deferred, Effect, Exit, Fiber } from "effect"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import pg from "pg"

const PASSWORD = "p@ss:w/rd#?%&= ü'\"\\"

/** Opens a TCP connection with a password, as a user's application would. */
const tcpQuery = (host: TestCluster.HostPort, password: string, sql: string) =>
  Effect.acquireUseRelease(
    Effect.tryPromise(async () => {
      const client = new pg.Client({ host: host.host, port: host.port, user: "pgfleet", password, database: "pgfleet" })
      client.on("error", () => {})
      await client.connect()
      return client
    }),
    (client) => Effect.tryPromise(() => client.query(sql)).pipe(Effect.map((r) => r.rows)),
    (client) => Effect.promise(() => client.end())
  )

const countRows = (cluster: TestCluster.TestCluster, member: TestCluster.Member, table: string) =>
  cluster.query<{ n: number }>(member, `SELECT count(*)::int AS n FROM ${table}`).pipe(Effect.map((rows) => rows[0]!.n))

/** Command lines of every running `postgres` process whose data directory lies under `dir`. */
const serversUnder = (dir: string) =>
  execFileSync("ps", ["-eo", "args"], { encoding: "utf8" })
    .split("\n")
    .filter((line) => line.includes("postgres") && line.includes(dir))

layer(TestCluster.layer({ password: PASSWORD }), { excludeTestServices: true, timeout: "60 seconds" })(
  "TestCluster",
  (it) => {
    it.effect("replicates writes to every reader; roles are reported by pg_is_in_recovery()", () =>
      Effect.gen(function*() {
        const cluster = yield* TestCluster.Cluster
        assert.strictEqual(cluster.readers.length, 2)
        yield* cluster.query("writer", "CREATE TABLE replicated (id int)")
        yield* cluster.query("writer", "INSERT INTO replicated VALUES (1), (2), (3)")
        yield* cluster.waitForReplication()
        for (const i of [0, 1]) {
          assert.strictEqual(yield* countRows(cluster, i, "replicated"), 3)
          const [row] = yield* cluster.query<{ r: boolean }>(i, "SELECT pg_is_in_recovery() AS r")
          assert.isTrue(row!.r)
        }
        const [writer] = yield* cluster.query<{ r: boolean }>("writer", "SELECT pg_is_in_recovery() AS r")
        assert.isFalse(writer!.r)
      }))

    it.effect("a stopped reader comes back and catches up", () =>
      Effect.gen(function*() {
        const cluster = yield* TestCluster.Cluster
        yield* cluster.query("writer", "CREATE TABLE catchup (id int)")
        yield* cluster.stopReader(1, "immediate")
        const refused = yield* tcpQuery(cluster.readers[1]!, PASSWORD, "SELECT 1").pipe(Effect.flip)
        assert.include(String(refused.cause), "ECONNREFUSED")
        yield* cluster.query("writer", "INSERT INTO catchup SELECT generate_series(1, 100)")
        yield* cluster.startReader(1)
        yield* cluster.waitForReplication()
        assert.strictEqual(yield* countRows(cluster, 1, "catchup"), 100)
      }))

    it.effect("paused replay hides a write until it is resumed", () =>
      Effect.gen(function*() {
        const cluster = yield* TestCluster.Cluster
        yield* cluster.query("writer", "CREATE TABLE paused (id int)")
        yield* cluster.waitForReplication()
        yield* cluster.pauseReplay(0)
        yield* cluster.query("writer", "INSERT INTO paused VALUES (1)")
        // Reader 1 replays the write, so it has reached the replicas' WAL stream.
        yield* cluster.waitForReplication()
        assert.strictEqual(yield* countRows(cluster, 1, "paused"), 1)
        assert.strictEqual(yield* countRows(cluster, 0, "paused"), 0)
        yield* cluster.resumeReplay(0)
        yield* cluster.waitForReplication()
        assert.strictEqual(yield* countRows(cluster, 0, "paused"), 1)
      }))

    it.effect("a password with special characters works over TCP; a wrong one is refused", () =>
      Effect.gen(function*() {
        const cluster = yield* TestCluster.Cluster
        for (const host of [cluster.writer, ...cluster.readers]) {
          const rows = yield* tcpQuery(host, PASSWORD, "SELECT current_setting('port')::int AS port")
          assert.strictEqual(rows[0].port, host.port)
        }
        const refused = yield* tcpQuery(cluster.writer, PASSWORD + "x", "SELECT 1").pipe(Effect.flip)
        assert.include(String(refused.cause), "password authentication failed")
        const [method] = yield* cluster.query<{ m: string }>(
          "writer",
          "SELECT current_setting('password_encryption') AS m"
        )
        assert.strictEqual(method!.m, "scram-sha-256")
      }))
  }
)

describe("TestCluster teardown", () => {
  it.live("interrupting a test mid-way leaves no server running and no folder behind", () =>
    Effect.gen(function*() {
      const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "pgfleet-teardown-"))
      // The servers run as an unprivileged user when we are root: let it through.
      fs.chmodSync(tmp, 0o755)
      const previous = process.env.TMPDIR
      process.env.TMPDIR = tmp
      try {
        const up = yield* Deferred.make<TestCluster.TestCluster>()
        const fiber = yield* Effect.fork(Effect.scoped(Effect.gen(function*() {
          const cluster = yield* TestCluster.make({ replicas: 1 })
          yield* Deferred.succeed(up, cluster)
          return yield* Effect.never
        })))
        const cluster = yield* Effect.raceFirst(Deferred.await(up), Fiber.join(fiber))
        assert.isNotEmpty(serversUnder(tmp))
        const exit = yield* Fiber.interrupt(fiber)
        assert.isTrue(Exit.isInterrupted(exit))
        assert.deepStrictEqual(serversUnder(tmp), [])
        assert.deepStrictEqual(fs.readdirSync(tmp), [])
        const refused = yield* tcpQuery(cluster.writer, "pgfleet", "SELECT 1").pipe(Effect.flip)
        assert.include(String(refused.cause), "ECONNREFUSED")

        // Interrupted while still starting: the start completes, then is torn down.
        const starting = yield* Effect.fork(Effect.scoped(TestCluster.make({ replicas: 1 })))
        yield* Effect.sleep("200 millis")
        yield* Fiber.interrupt(starting)
        assert.deepStrictEqual(serversUnder(tmp), [])
        assert.deepStrictEqual(fs.readdirSync(tmp), [])
      } finally {
        process.env.TMPDIR = previous
        fs.rmSync(tmp, { recursive: true, force: true })
      }
    }))
})
