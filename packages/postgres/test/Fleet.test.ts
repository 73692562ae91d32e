import { assert, layer } from "@effect/vitest"
import { Fleet, Legacy } from "@pgfleet/postgres"
import { eventually, TestCluster } from "@pgfleet/testing"
import { sql as dsql } from "drizzle-orm"
import { drizzle } from "drizzle-orm/node-postgres"
import { ConfigError, Effect } from "effect"
import { Kysely, PostgresDialect, sql as ksql } from "kysely"
import { spawnSync } from "node:child_process"
import * as path from "node:path"
import { connectionsNamed } from "./helpers.js"

const PASSWORD = "s3cret-w/rd:@"

/** The cluster's DB_* variables with fast health checks, under an application name of the test's own. */
const envOf = (cluster: TestCluster.TestCluster, applicationName: string, extra: Record<string, string> = {}) => ({
  ...cluster.env,
  DB_APPLICATION_NAME: applicationName,
  DB_HEALTH_CHECK_INTERVAL_MS: "200",
  DB_HEALTH_CHECK_TIMEOUT_MS: "300",
  DB_CONNECT_TIMEOUT_MS: "1000",
  DB_CONNECT_RETRY_BASE_MS: "50",
  ...extra
})

/** `workers` loops of `read` for `ms`, with reader 0 stopped (immediate) at `stopAt` ms. */
const readsWithReplicaStop = async (
  cluster: TestCluster.TestCluster,
  read: () => Promise<number>,
  options = { workers: 16, ms: 5000, stopAt: 1500 }
) => {
  const ports = new Set<number>()
  const failures: Array<unknown> = []
  let reads = 0
  const deadline = Date.now() + options.ms
  const stop = new Promise<void>((resolve, reject) =>
    setTimeout(() => Effect.runPromise(cluster.stopReader(0, "immediate")).then(resolve, reject), options.stopAt)
  )
  await Promise.all(Array.from({ length: options.workers }, async () => {
    while (Date.now() < deadline) {
      try {
        ports.add(await read())
        reads++
      } catch (e) {
        failures.push(e)
      }
    }
  }))
  await stop
  await Effect.runPromise(cluster.startReader(0))
  return { ports: [...ports], failures, reads }
}

/** Writes on the writer; reads: none failed, none on the writer, the surviving replica served. */
const assertReadsSurvived = (
  cluster: TestCluster.TestCluster,
  result: { written: number; failures: ReadonlyArray<unknown>; reads: number; ports: ReadonlyArray<number> }
) => {
  assert.strictEqual(result.written, cluster.writer.port)
  assert.deepStrictEqual(result.failures, [])
  assert.isAbove(result.reads, 100)
  assert.notInclude(result.ports, cluster.writer.port)
  assert.include(result.ports, cluster.readers[1]!.port)
}

const bin = path.join(__dirname, "../src/bin/pgfleet.ts")
const pgfleetCheck = (env: Record<string, string>) => {
  const { PATH, HOME, TMPDIR } = process.env
  const run = spawnSync(process.execPath, ["--import", "tsx", bin, "check", "--json"], {
    env: { PATH, HOME, TMPDIR, ...env },
    encoding: "utf8"
  })
  return { code: run.status, out: run.stdout, err: run.stderr }
}

layer(TestCluster.layer({ replicas: 2, password: PASSWORD }), { excludeTestServices: true, timeout: "120 seconds" })(
  "outside Effect",
  (it) => {
    it.effect("drizzle over readerPool: a replica stopped under 16 readers costs 0 reads, none on the writer", () =>
      Effect.gen(function*() {
        const cluster = yield* TestCluster.Cluster
        const fleet = yield* Effect.promise(() => Fleet.createFleet(envOf(cluster, "fleet-drizzle")))
        const result = yield* Effect.promise(async () => {
          const writes = drizzle(fleet.writerPool)
          const reads = drizzle(fleet.readerPool)
          await writes.execute(dsql`CREATE TABLE IF NOT EXISTS drizzle_notes (id serial PRIMARY KEY, body text)`)
          const [written] = (await writes.execute(dsql`INSERT INTO drizzle_notes (body) VALUES ('x')
            RETURNING current_setting('port')::int AS port`)).rows as Array<{ port: number }>
          // pg's own error, SQLSTATE and all, as drizzle over a plain pg.Pool would see it.
          const duplicate = await fleet.writerPool.query("INSERT INTO drizzle_notes (id) VALUES (1)").catch((e) => e)
          assert.strictEqual(duplicate.code, "23505")
          const load = await readsWithReplicaStop(
            cluster,
            async () =>
              ((await reads.execute(dsql`SELECT current_setting('port')::int AS port`)).rows[0] as { port: number })
                .port
          )
          return { written: written!.port, ...load }
        }).pipe(Effect.ensuring(Effect.promise(() => fleet.close())))
        assertReadsSurvived(cluster, result)
      }))

    it.effect("Kysely over readerPool: a replica stopped under 16 readers costs 0 reads, none on the writer", () =>
      Effect.gen(function*() {
        const cluster = yield* TestCluster.Cluster
        const fleet = yield* Effect.promise(() => Fleet.createFleet(envOf(cluster, "fleet-kysely")))
        const result = yield* Effect.promise(async () => {
          const reads = new Kysely<Record<string, never>>({ dialect: new PostgresDialect({ pool: fleet.readerPool }) })
          const writes = new Kysely<Record<string, never>>({ dialect: new PostgresDialect({ pool: fleet.writerPool }) })
          const written = await ksql<{ port: number }>`SELECT current_setting('port')::int AS port`.execute(writes)
          const load = await readsWithReplicaStop(
            cluster,
            async () =>
              (await ksql<{ port: number }>`SELECT current_setting('port')::int AS port`.execute(reads)).rows[0]!.port
          )
          return { written: written.rows[0]!.port, ...load }
        }).pipe(Effect.ensuring(Effect.promise(() => fleet.close())))
        assertReadsSurvived(cluster, result)
      }))

    it.effect("readerPool.connect() pins one replica; query works in promise and callback forms", () =>
      Effect.gen(function*() {
        const cluster = yield* TestCluster.Cluster
        const fleet = yield* Effect.promise(() =>
          Fleet.createFleet(envOf(cluster, "fleet-pin", { DB_READER_STRATEGY: "round-robin" }))
        )
        const result = yield* Effect.promise(async () => {
          const client = await fleet.readerPool.connect()
          const pinned: Array<number> = []
          for (let i = 0; i < 10; i++) {
            pinned.push(
              (await client.query<{ port: number }>("SELECT current_setting('port')::int AS port")).rows[0]!.port
            )
          }
          client.release()
          const viaPool: Array<number> = []
          for (let i = 0; i < 10; i++) {
            viaPool.push(
              (await fleet.readerPool.query<{ port: number }>("SELECT current_setting('port')::int AS port")).rows[0]!
                .port
            )
          }
          const viaCallback = await new Promise<number>((resolve, reject) =>
            fleet.writerPool.query(
              "SELECT current_setting('port')::int AS port",
              [],
              (error, result) => error ? reject(error) : resolve(result.rows[0].port)
            )
          )
          return { pinned, viaPool, viaCallback, total: fleet.readerPool.totalCount }
        }).pipe(Effect.ensuring(Effect.promise(() => fleet.close())))
        assert.strictEqual(new Set(result.pinned).size, 1)
        assert.include(cluster.readers.map((r) => r.port), result.pinned[0])
        // Round-robin through the pool: both replicas.
        assert.strictEqual(new Set(result.viaPool).size, 2)
        assert.strictEqual(result.viaCallback, cluster.writer.port)
        assert.isAbove(result.total, 0)
      }))

    it.effect("the original module's functions: one fleet per environment, and cleanupPools leaves 0 connections", () =>
      Effect.gen(function*() {
        const cluster = yield* TestCluster.Cluster
        const env = envOf(cluster, "fleet-legacy")
        const other = envOf(cluster, "fleet-legacy-2")
        const result = yield* Effect.promise(async () => {
          const writer = await Legacy.getWriterPool(env)
          const again = await Legacy.getWriterPool({ ...env })
          const otherWriter = await Legacy.getWriterPool(other)
          await Legacy.warmUpPools(env)
          const readers = await Legacy.getReaderPools(env)
          const random = await Legacy.getRandomReaderPool(env)
          const { rows } = await random.query<{ standby: boolean }>("SELECT pg_is_in_recovery() AS standby")
          return {
            same: writer === again,
            distinct: writer !== otherWriter,
            readers: readers.length,
            randomIsOne: readers.includes(random),
            standby: rows[0]!.standby
          }
        })
        assert.deepStrictEqual(result, { same: true, distinct: true, readers: 2, randomIsOne: true, standby: true })
        assert.isAbove(yield* connectionsNamed(cluster, "fleet-legacy"), 0)
        yield* Effect.promise(() => Legacy.cleanupPools())
        yield* eventually(
          Effect.map(
            Effect.all([connectionsNamed(cluster, "fleet-legacy"), connectionsNamed(cluster, "fleet-legacy-2")]),
            ([a, b]) => a + b === 0
          )
        )
      }))

    it.effect("createFleet rejects a bad environment with the ConfigError PostgresLive gives", () =>
      Effect.gen(function*() {
        const cluster = yield* TestCluster.Cluster
        const error = yield* Effect.flip(
          Effect.tryPromise(() => Fleet.createFleet(envOf(cluster, "fleet-bad", { DB_MAX_POOL_SIZE: "abc" })))
        )
        assert.isTrue(ConfigError.isConfigError(error.error), String(error.error))
        assert.include(String(error.error), "DB_MAX_POOL_SIZE")
      }))

    it.effect("pgfleet check: 0 when healthy, 1 with a replica stopped, 2 misconfigured or with the writer stopped", () =>
      Effect.gen(function*() {
        const cluster = yield* TestCluster.Cluster
        const env = envOf(cluster, "fleet-check")
        const healthy = pgfleetCheck(env)
        assert.strictEqual(healthy.code, 0, healthy.out + healthy.err)
        const report = JSON.parse(healthy.out) as { hosts: Array<{ host: string; observedRole: string }> }
        assert.deepStrictEqual(
          report.hosts.map((h) => h.host),
          [cluster.writer, ...cluster.readers].map((h) => `${h.host}:${h.port}`)
        )
        assert.deepStrictEqual(report.hosts.map((h) => h.observedRole), ["primary", "standby", "standby"])

        yield* cluster.stopReader(1, "immediate")
        const degraded = pgfleetCheck(env)
        yield* cluster.startReader(1)
        assert.strictEqual(degraded.code, 1, degraded.out)

        const misconfigured = pgfleetCheck({ ...env, DB_MAX_POOL_SIZE: "abc" })
        assert.strictEqual(misconfigured.code, 2)
        assert.include(misconfigured.out, "DB_MAX_POOL_SIZE")

        yield* cluster.stopWriter("fast")
        const writerDown = pgfleetCheck(env)
        yield* cluster.startWriter()
        assert.strictEqual(writerDown.code, 2, writerDown.out)
        for (const run of [healthy, degraded, misconfigured, writerDown]) assert.notInclude(run.out + run.err, "w/rd")
      }))
  }
)
