import type { SqlError } from "@effect/sql/SqlError"
import { assert, describe, layer } from "@effect/vitest"
import { HealthMonitor, Postgres, PostgresError, PostgresMetrics, ReaderPools, WriterPool } from "@pgfleet/postgres"
import type { PostgresConfig } from "@pgfleet/postgres"
import { eventually, TestCluster, untilStopped } from "@pgfleet/testing"
import { Cause, Effect, Either, Fiber, Layer, Logger, Metric, Option, Ref } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as tls from "node:tls"
import { fleet } from "./helpers.js"

const PASSWORD = "s3cr3t-p@ss:w/rd"

/** Every health state a host went through while `effect` ran, sampled every 5 ms. */
const watchingStates = <A, E, R>(host: string, effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const monitor = yield* HealthMonitor.HealthMonitor
    const seen = new Set<string>()
    const watcher = yield* Effect.fork(
      Effect.forever(Effect.zipRight(Effect.sync(() => seen.add(monitor.health(host).state)), Effect.sleep("5 millis")))
    )
    const result = yield* effect
    yield* Fiber.interrupt(watcher)
    return { result, states: [...seen].sort() }
  })

/** The `PostgresError` reason behind each failure of a load run. */
const reasonsOf = (failures: ReadonlyArray<Cause.Cause<unknown>>) =>
  failures.map((cause) => {
    const error = Option.getOrUndefined(Cause.failureOption(cause)) as SqlError | undefined
    return error?.cause instanceof PostgresError.PostgresError ? error.cause.reason : String(error?.cause ?? cause)
  })

/** Builds a fleet, returning how that went and every log line it wrote. */
const buildCapturingLogs = (settings: Partial<PostgresConfig.PostgresSettingsInput>) =>
  Effect.gen(function*() {
    const lines: Array<string> = []
    const capture = Logger.make(({ annotations, message }) => {
      lines.push(JSON.stringify({ message, annotations: Object.fromEntries(annotations) }))
    })
    const result = yield* Layer.build(fleet(settings)).pipe(
      Effect.scoped,
      Effect.either,
      Effect.provide(Logger.replace(Logger.defaultLogger, capture))
    )
    const error = Either.isLeft(result) ? result.left : undefined
    assert.instanceOf(error, PostgresError.PostgresError, `expected a PostgresError, got ${String(error)}`)
    return { error: error as PostgresError.PostgresError, lines }
  })

/** Fails when anything shown to a user holds the password. */
const assertNoPassword = (error: PostgresError.PostgresError, lines: ReadonlyArray<string>) => {
  for (const shown of [error.message, String(error), JSON.stringify(error), ...lines]) {
    assert.notInclude(shown, "w/rd")
  }
}

layer(TestCluster.layer({ replicas: 2, password: PASSWORD }), { excludeTestServices: true, timeout: "90 seconds" })(
  "failure detection",
  (it) => {
    it.effect("a terminated writer backend under 8 writers costs exactly that statement", () =>
      Effect.gen(function*() {
        const cluster = yield* TestCluster.Cluster
        const pg = yield* Postgres.Postgres
        const writer = yield* WriterPool.WriterPool
        yield* pg.writer`CREATE TABLE IF NOT EXISTS terminated (id serial PRIMARY KEY)`
        const stop = yield* Ref.make(false)
        const { result, states } = yield* watchingStates(
          writer.host,
          Effect.gen(function*() {
            const load = yield* Effect.fork(untilStopped(pg.writer`INSERT INTO terminated DEFAULT VALUES`, 8, stop))
            const victim = yield* Effect.fork(Effect.either(pg.writer`SELECT pg_sleep(30) AS victim`))
            yield* eventually(
              Effect.map(
                cluster.query<{ n: number }>(
                  "writer",
                  "SELECT count(*)::int AS n FROM pg_stat_activity WHERE query LIKE '%AS victim%' AND pid <> pg_backend_pid()"
                ),
                (rows) => rows[0]!.n === 1
              )
            )
            yield* cluster.query(
              "writer",
              "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%AS victim%' AND pid <> pg_backend_pid()"
            )
            const killed = yield* Fiber.join(victim)
            // Writes go on past the suspicion and its probe.
            yield* Effect.sleep("1500 millis")
            yield* Ref.set(stop, true)
            return { killed, writes: yield* Fiber.join(load) }
          })
        )
        assert.isTrue(Either.isLeft(result.killed), "the terminated statement fails")
        // The statement was sent when its backend died: its outcome is unknown (SQLSTATE 57P01 underneath).
        const error = Either.isLeft(result.killed) ? result.killed.left.cause : undefined
        assert.instanceOf(error, PostgresError.PostgresError)
        assert.strictEqual((error as PostgresError.PostgresError).reason, "OutcomeUnknown")
        const pgError = ((error as PostgresError.PostgresError).cause as { cause?: { code?: string } }).cause
        assert.strictEqual(pgError?.code, "57P01")
        assert.deepStrictEqual(reasonsOf(result.writes.failures), [])
        assert.strictEqual(result.writes.failed, 0)
        assert.isAbove(result.writes.runs, 50)
        // Suspect, probed, healthy: never down.
        assert.include(states, "suspect")
        assert.notInclude(states, "down")
      }).pipe(Effect.provide(fleet({ healthCheckInterval: "5 seconds", maxPoolSize: 10 }))))

    it.effect("a busy writer gives AcquireTimeouts only, and is never taken for dead", () =>
      Effect.gen(function*() {
        const pg = yield* Postgres.Postgres
        const writer = yield* WriterPool.WriterPool
        const stop = yield* Ref.make(false)
        const { result, states } = yield* watchingStates(
          writer.host,
          Effect.gen(function*() {
            const load = yield* Effect.fork(untilStopped(pg.writer`SELECT pg_sleep(0.3)`, 20, stop))
            yield* Effect.sleep("3 seconds")
            yield* Ref.set(stop, true)
            return yield* Fiber.join(load)
          })
        )
        const reasons = reasonsOf(result.failures)
        assert.isAbove(result.failed, 0, "a pool of 2 for 20 callers must time some out")
        assert.deepStrictEqual([...new Set(reasons)], ["AcquireTimeout"])
        assert.deepStrictEqual(states, ["healthy"])
        const timeouts = yield* Metric.value(
          PostgresMetrics.poolMetrics(PostgresMetrics.poolName("default", "writer", writer.host)).timeouts
        )
        assert.isAtLeast(timeouts.count, result.failed)
      }).pipe(Effect.provide(fleet({ minPoolSize: 1, maxPoolSize: 2, poolTimeout: "1 second" }))))

    it.effect("a busy replica gives AcquireTimeouts only, and stays in routing", () =>
      Effect.gen(function*() {
        const cluster = yield* TestCluster.Cluster
        const pg = yield* Postgres.Postgres
        const [replica] = yield* ReaderPools.ReaderPools
        const stop = yield* Ref.make(false)
        const ports = new Set<number>()
        const read = Effect.map(
          pg.reader<{ port: number }>`SELECT current_setting('port')::int AS port, pg_sleep(0.3)`,
          (rows) => ports.add(rows[0]!.port)
        )
        const { result, states } = yield* watchingStates(
          replica!.host,
          Effect.gen(function*() {
            const load = yield* Effect.fork(untilStopped(read, 20, stop))
            yield* Effect.sleep("3 seconds")
            yield* Ref.set(stop, true)
            return yield* Fiber.join(load)
          })
        )
        assert.isAbove(result.failed, 0)
        assert.deepStrictEqual([...new Set(reasonsOf(result.failures))], ["AcquireTimeout"])
        assert.deepStrictEqual(states, ["healthy"])
        // Never routed around it to the writer.
        assert.deepStrictEqual([...ports], [cluster.readers[0]!.port])
      }).pipe(Effect.provide(Layer.unwrapEffect(Effect.map(TestCluster.Cluster, (cluster) =>
        fleet({
          readerHosts: [`127.0.0.1:${cluster.readers[0]!.port}`],
          minPoolSize: 1,
          maxPoolSize: 2,
          poolTimeout: "1 second"
        }))))))

    it.effect("a wrong password fails at once, naming DB_USERNAME and DB_PASSWORD, with no retry logged", () =>
      Effect.gen(function*() {
        const { error, lines } = yield* buildCapturingLogs({ password: PASSWORD + "-wrong" })
        assert.strictEqual(error.reason, "Misconfigured")
        assert.include(error.message, "DB_USERNAME")
        assert.include(error.message, "DB_PASSWORD")
        assert.include(error.message, "password authentication failed")
        assert.deepStrictEqual(lines.filter((l) => l.includes("retrying")), [])
        assertNoPassword(error, lines)
      }))

    it.effect("an unknown database fails at once, naming DB_NAME", () =>
      Effect.gen(function*() {
        const { error, lines } = yield* buildCapturingLogs({ database: "no_such_db" })
        assert.strictEqual(error.reason, "Misconfigured")
        assert.include(error.message, "DB_NAME")
        assert.include(error.message, "no_such_db")
        assert.deepStrictEqual(lines.filter((l) => l.includes("retrying")), [])
        assertNoPassword(error, lines)
      }))

    it.effect("DB_SSL_MODE=require against a server without TLS fails at once, naming DB_SSL_MODE", () =>
      Effect.gen(function*() {
        const { error, lines } = yield* buildCapturingLogs({ ssl: "require" })
        assert.strictEqual(error.reason, "Misconfigured")
        assert.include(error.message, "DB_SSL_MODE")
        assert.include(error.message, error.host)
        assert.deepStrictEqual(lines.filter((l) => l.includes("retrying")), [])
        assertNoPassword(error, lines)
      }))

    it.effect("a refused connection is still retried, and each retry is logged", () =>
      Effect.gen(function*() {
        const { error, lines } = yield* buildCapturingLogs({
          writerHosts: ["127.0.0.1"],
          port: 1,
          retryBase: "10 millis",
          retryMaxAttempts: 3
        })
        assert.strictEqual(error.reason, "ConnectFailed")
        // Three attempts, two retries between them.
        assert.strictEqual(lines.filter((l) => l.includes("retrying")).length, 2)
        assert.include(error.message, "after 3 attempt(s)")
      }))
  }
)

describe("TLS misconfiguration", () => {
  layer(TestCluster.layer({ tls: true, password: PASSWORD }), { excludeTestServices: true, timeout: "60 seconds" })(
    (it) => {
      it.effect("verify-full against a CA that did not sign the server's certificate names DB_SSL_CA_FILE and the host", () =>
        Effect.gen(function*() {
          // A real PEM certificate authority, just not the cluster's.
          const otherCa = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "pgfleet-ca-")), "ca.pem")
          fs.writeFileSync(otherCa, tls.rootCertificates[0]!)
          const { error, lines } = yield* buildCapturingLogs({ ssl: "verify-full", sslCaFile: otherCa })
          assert.strictEqual(error.reason, "Misconfigured")
          assert.include(error.message, "DB_SSL_CA_FILE")
          assert.include(error.message, error.host)
          assert.match(error.message, /certificate/i)
          assert.deepStrictEqual(lines.filter((l) => l.includes("retrying")), [])
          assertNoPassword(error, lines)
        }))
    }
  )
})

describe("too many connections", () => {
  layer(TestCluster.layer({ replicas: 0, serverSettings: { max_connections: 8 } }), {
    excludeTestServices: true,
    timeout: "60 seconds"
  })((it) => {
    it.effect("53300 from the server is overload: AcquireTimeout, and the writer stays healthy", () =>
      Effect.gen(function*() {
        const pg = yield* Postgres.Postgres
        const writer = yield* WriterPool.WriterPool
        const { result, states } = yield* watchingStates(
          writer.host,
          Effect.forEach(
            Array.from({ length: 16 }),
            () => Effect.either(pg.writer`SELECT pg_sleep(0.5)`),
            { concurrency: "unbounded" }
          )
        )
        const failures = result.flatMap((r) => Either.isLeft(r) ? [r.left] : [])
        assert.isAbove(failures.length, 0, "8 connections cannot serve 16 callers at once")
        for (const failure of failures) {
          assert.instanceOf(failure.cause, PostgresError.PostgresError)
          const error = failure.cause as PostgresError.PostgresError
          assert.strictEqual(error.reason, "AcquireTimeout")
          assert.include(error.message, "53300")
        }
        assert.deepStrictEqual(states, ["healthy"])
        assert.isTrue(Either.isRight(yield* Effect.either(pg.writer`SELECT 1`)))
      }).pipe(Effect.provide(fleet({ minPoolSize: 1, maxPoolSize: 16 }))))
  })
})
