import * as PgClient from "@effect/sql-pg/PgClient"
import * as Statement from "@effect/sql/Statement"
import { assert, layer } from "@effect/vitest"
import { Postgres, ReaderPools, WriterPool } from "@pgfleet/postgres"
import { eventually, TestCluster } from "@pgfleet/testing"
import { Chunk, Deferred, Effect, Exit, Fiber, Option, Redacted, Stream } from "effect"
import type { Tracer } from "effect"
import pg from "pg"
import { fleet, recordingTracer } from "./helpers.js"

const PASSWORD = "p@ss:w/rd#?%&= ü'\"\\`"

/** A program written for @effect/sql-pg, knowing nothing of pgfleet. */
const pgClientProgram = Effect.gen(function*() {
  const sql = yield* PgClient.PgClient
  const [row] = yield* sql<{ standby: boolean; doc: { a: number } }>`
    SELECT pg_is_in_recovery() AS standby, ${sql.json({ a: 1 })}::jsonb AS doc`
  return { standby: row!.standby, doc: row!.doc, database: sql.config.database }
})

layer(TestCluster.layer({ replicas: 2, password: PASSWORD }), { excludeTestServices: true, timeout: "90 seconds" })(
  "PgClients",
  (it) => {
    it.effect("code typed against PgClient runs on pg.reader and pg.writer; PgClient is pgfleet's writer", () =>
      Effect.gen(function*() {
        const pg = yield* Postgres.Postgres
        assert.strictEqual(pg.reader[PgClient.TypeId], PgClient.TypeId)
        const onReader = yield* Effect.provideService(pgClientProgram, PgClient.PgClient, pg.reader)
        const onWriter = yield* Effect.provideService(pgClientProgram, PgClient.PgClient, pg.writer)
        assert.deepStrictEqual(onReader, { standby: true, doc: { a: 1 }, database: "pgfleet" })
        assert.deepStrictEqual(onWriter, { standby: false, doc: { a: 1 }, database: "pgfleet" })
        assert.strictEqual(yield* PgClient.PgClient, pg.writer)
      }).pipe(Effect.provide(fleet())))

    it.effect("nested fragments, values, raw, unprepared and statement transformers work as in @effect/sql", () =>
      Effect.gen(function*() {
        const pg = yield* Postgres.Postgres
        const sql = pg.reader
        const inner = sql`SELECT 2 AS n`
        assert.deepStrictEqual(yield* sql`SELECT n FROM (${inner}) AS t WHERE n IN ${sql.in([2, 3])}`, [{ n: 2 }])
        assert.deepStrictEqual(yield* sql`SELECT 1 AS a, 2 AS b`.values, [[1, 2]])
        const raw = (yield* sql`SELECT 1 AS a`.raw) as { command: string; rows: Array<unknown> }
        assert.strictEqual(raw.command, "SELECT")
        assert.deepStrictEqual(raw.rows, [{ a: 1 }])
        assert.deepStrictEqual(yield* sql`SELECT 1 AS a`.unprepared, [{ a: 1 }])
        // A transformer rewrites the statement; the result still comes from a standby.
        const transformed = yield* Statement.withTransformer(
          sql`SELECT 1 AS x`,
          (_, constructor) => Effect.succeed(constructor`SELECT pg_is_in_recovery() AS standby`)
        )
        assert.deepStrictEqual(transformed, [{ standby: true }])
        // Inside a writer transaction, a read joins it and sees its uncommitted write.
        const seen = yield* pg.writer.withTransaction(Effect.gen(function*() {
          yield* pg.writer`CREATE TEMP TABLE seen (n int)`
          yield* pg.writer`INSERT INTO seen VALUES (7)`
          return yield* sql`SELECT n FROM seen`
        }))
        assert.deepStrictEqual(seen, [{ n: 7 }])
      }).pipe(Effect.provide(fleet())))

    it.effect("a statement made again from its template runs as the first did, in and out of a transaction", () =>
      Effect.gen(function*() {
        const pg = yield* Postgres.Postgres
        // The first call compiles the template; the ones after run on its kept text.
        const onStandby = (n: number) => pg.reader`SELECT pg_is_in_recovery() AS standby, ${n}::int AS n`
        for (let i = 0; i < 3; i++) {
          assert.deepStrictEqual(yield* onStandby(i), [{ standby: true, n: i }])
          assert.deepStrictEqual(yield* onStandby(i).values, [[true, i]])
          const inTransaction = yield* pg.writer.withTransaction(Effect.gen(function*() {
            yield* pg.writer`CREATE TEMP TABLE IF NOT EXISTS again (n int) ON COMMIT DROP`
            yield* pg.writer`INSERT INTO again VALUES (${i})`
            return yield* pg.reader`SELECT n, pg_is_in_recovery() AS standby FROM again`
          }))
          assert.deepStrictEqual(inTransaction, [{ n: i, standby: false }])
        }
      }).pipe(Effect.provide(fleet())))

    it.effect("json with the insert and update helpers", () =>
      Effect.gen(function*() {
        const { writer: sql } = yield* Postgres.Postgres
        yield* sql`CREATE TABLE docs (id int PRIMARY KEY, body jsonb NOT NULL)`
        yield* sql`INSERT INTO docs ${sql.insert({ id: 1, body: sql.json({ tags: ["a"], n: 1 }) })}`
        yield* sql`UPDATE docs SET ${sql.update({ body: sql.json({ tags: ["b"], n: 2 }) })} WHERE id = 1`
        const rows = yield* sql<{ body: unknown }>`SELECT body FROM docs WHERE id = 1`
        assert.deepStrictEqual(rows, [{ body: { tags: ["b"], n: 2 } }])
      }).pipe(Effect.provide(fleet())))

    it.effect("name transforms both ways, nested json included, on the writer and on a replica", () =>
      Effect.gen(function*() {
        const cluster = yield* TestCluster.Cluster
        const pg = yield* Postgres.Postgres
        const sql = pg.writer
        yield* sql`CREATE TABLE people (id int PRIMARY KEY, first_name text, home jsonb)`
        yield* sql`INSERT INTO people ${
          sql.insert({ id: 1, firstName: "Ada", home: sql.json({ homeTown: "London", postCode: { outerCode: "N1" } }) })
        }`
        const stored = yield* cluster.query<{ first_name: string; town: string; outer: string }>(
          "writer",
          "SELECT first_name, home->>'home_town' AS town, home->'post_code'->>'outer_code' AS outer FROM people"
        )
        assert.deepStrictEqual(stored, [{ first_name: "Ada", town: "London", outer: "N1" }])
        const expected = [{ id: 1, firstName: "Ada", home: { homeTown: "London", postCode: { outerCode: "N1" } } }]
        assert.deepStrictEqual(yield* sql`SELECT * FROM people`, expected)
        assert.deepStrictEqual(yield* pg.withReadYourWrites(pg.reader`SELECT * FROM people`), expected)
        // withoutTransforms() is the same client with the names as PostgreSQL has them.
        const [plain] = yield* sql.withoutTransforms()`SELECT first_name FROM people`
        assert.deepStrictEqual(plain, { first_name: "Ada" })
      }).pipe(Effect.provide(fleet({ nameTransform: "snake-camel" }))))

    it.effect("a types parser: int8 as bigint, on both clients", () =>
      Effect.gen(function*() {
        const pg = yield* Postgres.Postgres
        for (const sql of [pg.writer, pg.reader]) {
          const [row] = yield* sql<{ n: unknown }>`SELECT 9007199254740993::int8 AS n`
          assert.strictEqual(row!.n, 9007199254740993n)
        }
      }).pipe(Effect.provide(fleet({
        types: {
          getTypeParser: ((oid: number, format?: "text" | "binary") =>
            oid === 20
              ? (text: string) => BigInt(text)
              : pg.types.getTypeParser(oid, format)) as any
        }
      }))))

    it.effect("config.url logs in with a password of every awkward character", () =>
      Effect.gen(function*() {
        const { writer } = yield* Postgres.Postgres
        const url = writer.config.url!
        assert.notInclude(String(url), "w/rd")
        const rows = yield* Effect.acquireUseRelease(
          Effect.promise(async () => {
            const client = new pg.Client({ connectionString: Redacted.value(url) })
            await client.connect()
            return client
          }),
          (client) =>
            Effect.promise(() =>
              client.query<{ user: string; port: number }>(
                "SELECT current_user AS user, current_setting('port')::int AS port"
              )
            ),
          (client) => Effect.promise(() => client.end())
        )
        const cluster = yield* TestCluster.Cluster
        assert.deepStrictEqual(rows.rows, [{ user: cluster.username, port: cluster.writer.port }])
      }).pipe(Effect.provide(fleet())))

    it.effect("reader reserve and streams run on a standby", () =>
      Effect.gen(function*() {
        const pg = yield* Postgres.Postgres
        const reserved = yield* Effect.scoped(
          Effect.flatMap(pg.reader.reserve, (conn) =>
            conn.execute("SELECT pg_is_in_recovery() AS standby", [], undefined))
        )
        assert.deepStrictEqual(reserved, [{ standby: true }])
        const streamed = yield* Stream.runCollect(
          pg.reader<{ standby: boolean; n: number }>`SELECT pg_is_in_recovery() AS standby, n
            FROM generate_series(1, 300) AS n`.stream
        )
        assert.strictEqual(Chunk.size(streamed), 300)
        assert.isTrue(Chunk.every(streamed, (r) =>
          r.standby))
      }).pipe(Effect.provide(fleet())))

    it.effect("spans name the server that ran each statement, and both hosts of a retried read", () =>
      Effect.gen(function*() {
        const { spans, tracer } = recordingTracer()
        const cluster = yield* TestCluster.Cluster
        const pg = yield* Postgres.Postgres
        const readers = yield* ReaderPools.ReaderPools
        const writerPool = yield* WriterPool.WriterPool
        const served = (sql: PgClient.PgClient) =>
          Effect.map(sql<{ port: number }>`SELECT current_setting('port')::int AS port`, (r) => r[0]!.port)
        const ports = yield* Effect.all([served(pg.writer), served(pg.reader), served(pg.reader)]).pipe(
          Effect.withTracer(tracer)
        )
        const executes = spans.filter((s) => s.name === "sql.execute")
        assert.strictEqual(executes.length, 3)
        executes.forEach((span, i) => {
          assert.strictEqual(span.attributes.get("server.port"), ports[i])
          assert.strictEqual(span.attributes.get("server.address"), "127.0.0.1")
          assert.strictEqual(span.attributes.get("db.namespace"), cluster.database)
          assert.strictEqual(span.attributes.get("db.system.name"), "postgresql")
          assert.include(String(span.attributes.get("db.query.text")), "current_setting")
        })
        assert.strictEqual(executes[0]!.attributes.get("pgfleet.route"), "writer")
        assert.strictEqual(executes[1]!.attributes.get("pgfleet.route"), "strategy")
        assert.strictEqual(executes[1]!.attributes.get("pgfleet.strategy"), "round-robin")
        assert.strictEqual(ports[0], writerPool.address.port)

        // A fiber with tracing switched off makes no span, though its tracer would record one.
        spans.length = 0
        yield* served(pg.reader).pipe(Effect.withTracerEnabled(false), Effect.withTracer(tracer))
        assert.deepStrictEqual(spans.map((s) => s.name), [])

        // Replica 0 dies between probes: the next read routed to it is retried on the other.
        spans.length = 0
        const first = readers[0]!
        yield* cluster.stopReader(0, "immediate")
        const afterKill = yield* Effect.forEach(Array.from({ length: 4 }), () => served(pg.reader)).pipe(
          Effect.withTracer(tracer),
          Effect.ensuring(Effect.orDie(cluster.startReader(0)))
        )
        const retries = spans.filter((s) => s.name === "pgfleet.read.retry")
        assert.isAbove(retries.length, 0, "a terminated connection must have made a read retry")
        const retry = retries[0]!
        const parent = Option.getOrThrow(retry.parent) as Tracer.Span
        assert.strictEqual(parent.name, "sql.execute")
        assert.strictEqual(parent.attributes.get("server.port"), first.address.port)
        assert.strictEqual(retry.attributes.get("server.port"), readers[1]!.address.port)
        assert.strictEqual(retry.attributes.get("pgfleet.failed_host"), first.host)
        assert.include(afterKill, readers[1]!.address.port)
      }).pipe(Effect.provide(fleet({ readerStrategy: "round-robin", healthCheckInterval: "10 seconds" }))))

    it.effect("a transaction and its statements name the server of the connection it holds", () =>
      Effect.gen(function*() {
        const { spans, tracer } = recordingTracer()
        const pg = yield* Postgres.Postgres
        const served = (sql: PgClient.PgClient) =>
          Effect.map(sql<{ port: number }>`SELECT current_setting('port')::int AS port`, (r) => r[0]!.port)
        const [onWriter, onReader] = yield* Effect.all([
          pg.writer.withTransaction(Effect.zipRight(pg.writer`SELECT 1`, served(pg.writer))),
          pg.reader.withTransaction(served(pg.reader))
        ]).pipe(Effect.withTracer(tracer))
        const executes = spans.filter((s) => s.name === "sql.execute")
        assert.deepStrictEqual(
          executes.map((s) => [s.attributes.get("server.address"), s.attributes.get("server.port")]),
          [["127.0.0.1", onWriter], ["127.0.0.1", onWriter], ["127.0.0.1", onReader]]
        )
        assert.notStrictEqual(onWriter, onReader)
        assert.deepStrictEqual(executes.map((s) => s.attributes.get("pgfleet.route")), ["writer", "writer", "strategy"])
        // The transactions' own spans name the server too.
        const transactions = spans.filter((s) => s.name === "sql.transaction")
        assert.deepStrictEqual(
          transactions.map((s) => [s.attributes.get("server.port"), s.attributes.get("pgfleet.route")]),
          [[onWriter, "writer"], [onReader, "strategy"]]
        )
        // As a statement's span: the reader's strategy by name, and none on the writer.
        assert.deepStrictEqual(transactions.map((s) => s.attributes.get("pgfleet.strategy")), [undefined, "random"])
        assert.deepStrictEqual(
          executes.map((s) => Option.getOrThrow(s.parent).spanId),
          [transactions[0]!.spanId, transactions[0]!.spanId, transactions[1]!.spanId]
        )
      }).pipe(Effect.provide(fleet())))

    for (const side of ["writer", "reader"] as const) {
      it.effect(`an interrupted pg_sleep(30) on the ${side} is cancelled at once, and its connection returns`, () =>
        Effect.gen(function*() {
          const cluster = yield* TestCluster.Cluster
          const pg = yield* Postgres.Postgres
          const client = pg[side]
          const members = side === "writer" ? ["writer" as const] : cluster.readers.map((_, i) => i)
          const sleeping = Effect.map(
            Effect.forEach(members, (m) =>
              cluster.query<{ n: number }>(
                m,
                `SELECT count(*)::int AS n FROM pg_stat_activity
                 WHERE state = 'active' AND query LIKE '%pg_sleep(30)%' AND pid <> pg_backend_pid()`
              )),
            (counts) => counts.reduce((n, [r]) => n + r!.n, 0)
          )
          const fiber = yield* Effect.fork(client`SELECT pg_sleep(30)`)
          yield* eventually(Effect.map(sleeping, (n) => n === 1))
          yield* Fiber.interrupt(fiber)
          // Within a second, no statement is left running on any server.
          yield* eventually(Effect.map(sleeping, (n) => n === 0)).pipe(Effect.timeout("1 second"))
          const pools = side === "writer" ? [yield* WriterPool.WriterPool] : yield* ReaderPools.ReaderPools
          yield* eventually(Effect.sync(() => pools.every((p) => p.counts().inUse === 0)))
          // The pool is still open and serves the next statement.
          assert.deepStrictEqual(yield* client`SELECT 1 AS one`, [{ one: 1 }])
        }).pipe(Effect.provide(fleet())))
    }

    const sleepingOn = (cluster: TestCluster.TestCluster) =>
      Effect.map(
        Effect.forEach(cluster.readers.map((_, i) => i), (m) =>
          cluster.query<{ n: number }>(
            m,
            `SELECT count(*)::int AS n FROM pg_stat_activity
             WHERE state = 'active' AND query LIKE '%pg_sleep(30)%' AND pid <> pg_backend_pid()`
          )),
        (counts) => counts.reduce((n, [r]) => n + r!.n, 0)
      )

    it.effect("a read that Effect.timeout gives up on is cancelled on the server", () =>
      Effect.gen(function*() {
        const cluster = yield* TestCluster.Cluster
        const pg = yield* Postgres.Postgres
        const result = yield* Effect.either(Effect.timeout(pg.reader`SELECT pg_sleep(30)`, "300 millis"))
        assert.strictEqual(result._tag, "Left")
        yield* eventually(Effect.map(sleepingOn(cluster), (n) => n === 0)).pipe(Effect.timeout("1 second"))
        const pools = yield* ReaderPools.ReaderPools
        yield* eventually(Effect.sync(() => pools.every((p) => p.counts().inUse === 0)))
      }).pipe(Effect.provide(fleet())))

    it.effect("a read interrupted in a fiber that lives on is cancelled when that fiber runs its next statement", () =>
      Effect.gen(function*() {
        const cluster = yield* TestCluster.Cluster
        const pg = yield* Postgres.Postgres
        const goOn = yield* Deferred.make<void>()
        const results = yield* Deferred.make<readonly [Exit.Exit<unknown, unknown>, unknown]>()
        const checked = yield* Deferred.make<void>()
        // The statement is interruptible; the fiber around it is not, so it survives the interrupt.
        yield* Effect.fork(Effect.uninterruptibleMask((restore) =>
          Effect.gen(function*() {
            const first = yield* Effect.exit(restore(pg.reader`SELECT pg_sleep(30)`))
            yield* Deferred.await(goOn)
            yield* Deferred.succeed(results, [first, yield* pg.reader`SELECT 1 AS one`])
            // Alive until the checks are done: the cancel must not wait for the fiber's end.
            yield* Deferred.await(checked)
          })
        )).pipe(
          Effect.tap((fiber) =>
            Effect.zipRight(eventually(Effect.map(sleepingOn(cluster), (n) => n === 1)), Fiber.interruptFork(fiber))
          )
        )
        yield* Deferred.succeed(goOn, undefined)
        const [first, next] = yield* Deferred.await(results)
        assert.isTrue(Exit.isInterrupted(first))
        assert.deepStrictEqual(next, [{ one: 1 }])
        yield* eventually(Effect.map(sleepingOn(cluster), (n) => n === 0)).pipe(
          Effect.timeout("1 second"),
          Effect.ensuring(Deferred.succeed(checked, undefined))
        )
      }).pipe(Effect.provide(fleet())))

    it.effect("listen survives a writer restart; notify works from either client", () =>
      Effect.gen(function*() {
        const cluster = yield* TestCluster.Cluster
        const pg = yield* Postgres.Postgres
        const received: Array<string> = []
        yield* Effect.forkScoped(
          Stream.runForEach(pg.reader.listen("events"), (p) => Effect.sync(() => received.push(p)))
        )
        const delivered = (payload: string, via: PgClient.PgClient) =>
          eventually(
            Effect.zipRight(Effect.ignore(via.notify("events", payload)), Effect.sync(() => received.includes(payload)))
          )
        yield* delivered("before", pg.writer)
        yield* cluster.stopWriter("fast")
        yield* cluster.startWriter()
        yield* delivered("after", pg.reader)
        assert.includeMembers(received, ["before", "after"])
      }).pipe(Effect.scoped, Effect.provide(fleet({ retryBase: "50 millis", retryMaxDelay: "200 millis" }))))
  }
)
