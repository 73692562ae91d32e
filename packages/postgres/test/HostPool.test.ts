import { SqlClient } from "@effect/sql"
import { assert, describe, layer } from "@effect/vitest"
import { Postgres, PostgresConfig, PostgresError, PostgresLive, WriterPool } from "@pgfleet/postgres"
import { eventually, TestCluster } from "@pgfleet/testing"
import { ConfigProvider, Effect, Either, Fiber, Layer, Logger } from "effect"
import { connectionsNamed, fleet, servedBy } from "./helpers.js"

const PASSWORD = "p@ss:w/rd#?%&= ü'\"\\"

/** Builds a fleet layer and returns how that went, keeping the log lines it wrote. */
const buildCapturingLogs = <E, R>(live: Layer.Layer<Postgres.Services, E, R>) =>
  Effect.gen(function*() {
    const lines: Array<string> = []
    const capture = Logger.make(({ annotations, message }) => {
      lines.push(JSON.stringify({ message, annotations: Object.fromEntries(annotations) }))
    })
    const result = yield* Layer.build(live).pipe(
      Effect.scoped,
      Effect.either,
      Effect.provide(Logger.replace(Logger.defaultLogger, capture))
    )
    return { result, lines }
  })

const postgresError = (either: Either.Either<unknown, unknown>) => {
  assert.isTrue(Either.isLeft(either), "expected the layer to fail")
  const error = Either.getLeft(either).pipe((o) => o._tag === "Some" ? o.value : undefined)
  assert.instanceOf(error, PostgresError.PostgresError)
  return error as PostgresError.PostgresError
}

layer(TestCluster.layer({ password: PASSWORD }), { excludeTestServices: true, timeout: "60 seconds" })(
  "pools",
  (it) => {
    it.effect("PostgresLive runs on nothing but the cluster's DB_* variables, special password included", () =>
      Effect.gen(function*() {
        const cluster = yield* TestCluster.Cluster
        const provider = ConfigProvider.fromMap(new Map(Object.entries(cluster.env)))
        const [writerPort, readerPort] = yield* Effect.gen(function*() {
          const pg = yield* Postgres.Postgres
          return [yield* servedBy(pg.writer), yield* servedBy(pg.reader)] as const
        }).pipe(Effect.provide(PostgresLive), Effect.withConfigProvider(provider))
        assert.strictEqual(writerPort, cluster.writer.port)
        assert.include(cluster.readers.map((r) => r.port), readerPort)
      }))

    it.effect("a wrong password fails at once with a typed error that never shows the password", () =>
      Effect.gen(function*() {
        const wrong = PASSWORD + "-wrong"
        const { lines, result } = yield* buildCapturingLogs(
          fleet({ password: wrong })
        )
        const error = postgresError(result)
        assert.strictEqual(error.reason, "Misconfigured")
        assert.include(error.message, "password authentication failed")
        assert.deepStrictEqual(lines.filter((l) => l.includes("retrying")), [])
        for (const shown of [error.message, String(error), JSON.stringify(error), ...lines]) {
          assert.notInclude(shown, "w/rd")
        }
      }))

    it.effect("a reader entry that points at the writer fails, naming the host", () =>
      Effect.gen(function*() {
        const cluster = yield* TestCluster.Cluster
        const { result } = yield* buildCapturingLogs(
          fleet({ readerHosts: [`127.0.0.1:${cluster.writer.port}`] })
        )
        const error = postgresError(result)
        assert.strictEqual(error.reason, "WrongRole")
        assert.strictEqual(error.host, `127.0.0.1:${cluster.writer.port}`)
        assert.include(error.message, "DB_READER_HOSTS")
      }))

    it.effect("starting while the writer is down: the layer comes up once it starts 2 s later", () =>
      Effect.gen(function*() {
        const cluster = yield* TestCluster.Cluster
        yield* cluster.stopWriter()
        const starter = yield* Effect.fork(Effect.delay(cluster.startWriter(), "2 seconds"))
        const { lines, result } = yield* buildCapturingLogs(
          fleet({ retryBase: "100 millis", retryMaxDelay: "500 millis", retryMaxAttempts: 30 })
        )
        yield* Fiber.join(starter)
        assert.isTrue(Either.isRight(result), `expected the layer to come up: ${String(Either.getLeft(result))}`)
        const retries = lines.filter((l) => l.includes("retrying"))
        assert.isAbove(retries.length, 1)
        assert.include(retries[0]!, `"host":"127.0.0.1:${cluster.writer.port}"`)
        assert.include(retries[0]!, `"attempt":1`)
        assert.include(retries[0]!, `"nextDelay"`)
        assert.include(retries[0]!, "ECONNREFUSED")
      }))

    it.effect("with the writer down for good, the typed error arrives once the retries run out", () =>
      Effect.gen(function*() {
        const cluster = yield* TestCluster.Cluster
        yield* cluster.stopWriter()
        const { result } = yield* buildCapturingLogs(
          fleet({ retryBase: "20 millis", retryMaxDelay: "50 millis", retryMaxAttempts: 4 })
        ).pipe(Effect.ensuring(Effect.orDie(cluster.startWriter())))
        const error = postgresError(result)
        assert.strictEqual(error.reason, "ConnectFailed")
        assert.strictEqual(error.host, `127.0.0.1:${cluster.writer.port}`)
        assert.include(error.message, "after 4 attempt(s)")
        assert.include(error.message, "ECONNREFUSED")
      }))

    it.effect("an exhausted pool gives a clear timeout error after DB_POOL_TIMEOUT", () =>
      Effect.gen(function*() {
        const pg = yield* Postgres.Postgres
        const writerPool = yield* WriterPool.WriterPool
        yield* writerPool.client.reserve
        const error = yield* Effect.flip(pg.writer`SELECT 1`)
        assert.strictEqual(error._tag, "SqlError")
        assert.instanceOf(error.cause, PostgresError.PostgresError)
        const cause = error.cause as PostgresError.PostgresError
        assert.strictEqual(cause.reason, "AcquireTimeout")
        assert.strictEqual(cause.host, writerPool.host)
        assert.include(error.message, "DB_POOL_TIMEOUT")
      }).pipe(Effect.scoped, Effect.provide(fleet({ minPoolSize: 1, maxPoolSize: 1, poolTimeout: "1 second" }))))

    it.effect("a read interrupted while it waits for a connection does not leak that connection", () =>
      Effect.gen(function*() {
        const pg = yield* Postgres.Postgres
        const writerPool = yield* WriterPool.WriterPool
        const held = yield* Effect.fork(pg.writer`SELECT pg_sleep(0.5)`)
        yield* eventually(Effect.sync(() => writerPool.counts().inUse === 1))
        // Waits behind the held connection, then gives up.
        const waited = yield* Effect.either(Effect.timeout(pg.writer`SELECT 1`, "100 millis"))
        assert.isTrue(Either.isLeft(waited))
        yield* Fiber.join(held)
        yield* eventually(Effect.sync(() => writerPool.counts().idle === 1 && writerPool.counts().inUse === 0))
        assert.strictEqual(yield* servedBy(pg.writer), writerPool.address.port)
      }).pipe(Effect.provide(fleet({ minPoolSize: 1, maxPoolSize: 1, poolTimeout: "5 seconds" }))))

    it.effect("pg_terminate_backend on idle pooled connections does not crash the process; the next query works", () =>
      Effect.gen(function*() {
        const cluster = yield* TestCluster.Cluster
        const pg = yield* Postgres.Postgres
        const writerPool = yield* WriterPool.WriterPool
        const idle = writerPool.counts().idle
        assert.isAtLeast(idle, 3)
        const [killed] = yield* cluster.query<{ n: number }>(
          "writer",
          "SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE application_name = 'pgfleet-terminate'"
        )
        // The pool's idle connections and the fleet's listen connection.
        assert.strictEqual(killed!.n, idle + 1)
        yield* eventually(Effect.sync(() => writerPool.counts().total === 0))
        assert.strictEqual(yield* servedBy(pg.writer), cluster.writer.port)
      }).pipe(Effect.provide(fleet({ applicationName: "pgfleet-terminate", minPoolSize: 3 }))))

    it.effect("closing the scope leaves no connection with our application name on any server", () =>
      Effect.gen(function*() {
        const cluster = yield* TestCluster.Cluster
        const applicationName = "pgfleet-close-test"
        yield* Effect.gen(function*() {
          const pg = yield* Postgres.Postgres
          yield* Effect.all(Array.from({ length: 20 }, () => servedBy(pg.reader)), { concurrency: 20 })
          yield* servedBy(pg.writer)
          assert.isAbove(yield* connectionsNamed(cluster, applicationName), 3)
        }).pipe(Effect.provide(fleet({ applicationName, minPoolSize: 2 })))
        yield* eventually(Effect.map(connectionsNamed(cluster, applicationName), (n) => n === 0))
      }))

    it.effect("statement_timeout is enforced, sent at startup or with SET", () =>
      Effect.gen(function*() {
        for (const statementTimeoutMode of ["startup", "set"] as const) {
          const codes = yield* Effect.gen(function*() {
            const pg = yield* Postgres.Postgres
            const [setting] = yield* pg.reader<{ t: string }>`SELECT current_setting('statement_timeout') AS t`
            assert.strictEqual(setting!.t, "300ms")
            const error = yield* Effect.flip(pg.writer`SELECT pg_sleep(5)`)
            return (error.cause as { code?: string }).code
          }).pipe(Effect.provide(fleet({ statementTimeout: "300 millis", statementTimeoutMode })))
          assert.strictEqual(codes, "57014", statementTimeoutMode)
        }
      }))

    it.effect("the generic SqlClient is the writer, so existing @effect/sql code runs unchanged", () =>
      Effect.gen(function*() {
        const cluster = yield* TestCluster.Cluster
        const sql = yield* SqlClient.SqlClient
        yield* sql`CREATE TABLE IF NOT EXISTS plain (id int)`
        yield* sql.withTransaction(sql`INSERT INTO plain ${sql.insert({ id: 1 })}`)
        assert.strictEqual(yield* servedBy(sql), cluster.writer.port)
      }).pipe(Effect.provide(fleet())))
  }
)

describe("TLS", () => {
  layer(TestCluster.layer({ tls: true }), { excludeTestServices: true, timeout: "60 seconds" })((it) => {
    it.effect("verify-full with the cluster's CA connects over TLS to every host", () =>
      Effect.gen(function*() {
        const pg = yield* Postgres.Postgres
        const query = (sql: SqlClient.SqlClient) =>
          Effect.map(sql<{ ssl: boolean }>`SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()`, (r) => r[0]!.ssl)
        assert.isTrue(yield* query(pg.writer))
        const viaReaders = yield* Effect.replicateEffect(query(pg.reader), 6)
        assert.deepStrictEqual([...new Set(viaReaders)], [true])
      }).pipe(Effect.provide(Layer.unwrapEffect(Effect.map(TestCluster.Cluster, (cluster) =>
        Postgres.layerConfig(PostgresConfig.fromEnv).pipe(
          Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(cluster.env)))))
        ))))))

    it.effect("verify-full without the CA refuses the self-signed certificate", () =>
      Effect.gen(function*() {
        const { result } = yield* buildCapturingLogs(
          fleet({ ssl: "verify-full", retryMaxAttempts: 1 })
        )
        const error = postgresError(result)
        assert.strictEqual(error.reason, "Misconfigured")
        assert.match(error.message, /certificate/i)
        assert.include(error.message, "DB_SSL_CA_FILE")
      }))
  })
})
