import { assert, describe, it, layer } from "@effect/vitest"
import { Postgres, StatementClassifier } from "@pgfleet/postgres"
import { eventually, TestCluster } from "@pgfleet/testing"
import { Effect } from "effect"
import { fleet, recordingTracer } from "./helpers.js"

type Side = "reader" | "writer"

/**
 * The corpus: SQL text, the side it must run on, and its parameters. `run:
 * false` entries are only classified (they cannot run on a pooled
 * autocommit connection, or need more than this cluster has).
 */
interface Case {
  readonly sql: string
  readonly side: Side
  readonly params?: ReadonlyArray<unknown>
  readonly run?: boolean
  /** The reason the classification must give, where it is the point of the case. */
  readonly reason?: string
}

let nextId = 1000
const id = () => nextId++

const corpus: ReadonlyArray<Case> = [
  // Reads.
  { sql: "SELECT current_setting('port')::int AS port", side: "reader", reason: "parsed-read" },
  { sql: "select current_setting('port')::int as port", side: "reader" },
  { sql: "/* a comment */ SELECT current_setting('port')::int AS port", side: "reader" },
  { sql: "-- a line comment\nSELECT current_setting('port')::int AS port", side: "reader" },
  { sql: "SELECT v, current_setting('port')::int AS port FROM items WHERE id = $1", side: "reader", params: [1] },
  { sql: "SELECT v FROM items WHERE id = ANY($1)", side: "reader", params: [[1, 2]] },
  { sql: "VALUES (1), (2)", side: "reader" },
  { sql: "TABLE items", side: "reader" },
  { sql: "SHOW port", side: "reader", reason: "show" },
  { sql: "SHOW transaction_isolation", side: "reader" },
  { sql: "EXPLAIN SELECT * FROM items", side: "reader", reason: "explain" },
  { sql: "EXPLAIN INSERT INTO items VALUES (1, 'never')", side: "reader", reason: "explain" },
  { sql: "EXPLAIN ANALYZE SELECT * FROM items", side: "reader" },
  { sql: "SELECT * FROM items UNION SELECT * FROM items", side: "reader" },
  { sql: "SELECT id, v FROM items UNION ALL SELECT id, v FROM items ORDER BY 1 LIMIT 5", side: "reader" },
  { sql: "SELECT * FROM items INTERSECT SELECT * FROM items", side: "reader" },
  { sql: "WITH x AS (SELECT * FROM items) SELECT count(*) FROM x", side: "reader" },
  {
    sql: "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) SELECT sum(n) FROM r",
    side: "reader"
  },
  { sql: "SELECT random(), clock_timestamp(), gen_random_uuid()", side: "reader" },
  { sql: "SELECT now(), current_timestamp", side: "reader" },
  { sql: "SELECT stable_count(), current_setting('port')::int AS port", side: "reader" },
  { sql: "SELECT immutable_double(21) AS n", side: "reader" },
  { sql: "SELECT count(*) FROM items WHERE v LIKE 'a%'", side: "reader" },
  { sql: "SELECT (SELECT max(id) FROM items) AS m", side: "reader" },
  { sql: "SELECT EXISTS (SELECT 1 FROM items WHERE id = 1)", side: "reader" },
  { sql: "SELECT json_build_object('a', 1)", side: "reader" },
  { sql: "SELECT * FROM generate_series(1, 3)", side: "reader" },
  { sql: "SELECT 1; SELECT current_setting('port')::int AS port", side: "reader" },
  { sql: "SELECT txid_current_if_assigned()", side: "reader" },
  { sql: "SELECT nextval FROM (SELECT 1 AS nextval) AS x", side: "reader" },
  { sql: "SELECT 'nextval(''ids'')' AS looks_like_a_call", side: "reader" },
  { sql: "SELECT current_setting('work_mem')", side: "reader" },
  { sql: "SELECT $1::int + $2::int AS sum", side: "reader", params: [1, 2] },
  { sql: "SELECT * FROM items i JOIN items j ON i.id = j.id WHERE i.id < 3", side: "reader" },
  // Writes.
  { sql: "INSERT INTO items VALUES ($1, $2)", side: "writer", params: [id(), "inserted"] },
  { sql: "UPDATE items SET v = v WHERE id = -1", side: "writer" },
  { sql: "DELETE FROM items WHERE id = -1", side: "writer" },
  { sql: `INSERT INTO items VALUES (${id()}, 'x') ON CONFLICT DO NOTHING`, side: "writer" },
  {
    sql: "MERGE INTO items USING (VALUES (1)) AS s(id) ON items.id = s.id WHEN MATCHED THEN DO NOTHING",
    side: "writer"
  },
  // drizzle #4185: a SELECT whose CTE writes.
  {
    sql: `WITH x AS (INSERT INTO items VALUES (${id()}, 'cte') RETURNING id) SELECT * FROM x`,
    side: "writer",
    reason: "writing-cte"
  },
  {
    sql: "WITH w AS (UPDATE items SET v = v WHERE id = -1 RETURNING *), r AS (SELECT * FROM w) SELECT * FROM r",
    side: "writer",
    reason: "writing-cte"
  },
  // PostgreSQL refuses a writing CTE below the top level, but the classifier finds it at any depth.
  {
    sql:
      "WITH a AS (SELECT * FROM (WITH b AS (UPDATE items SET v = v WHERE id = -1 RETURNING *) SELECT * FROM b) AS x) SELECT * FROM a",
    side: "writer",
    reason: "writing-cte",
    run: false
  },
  { sql: "WITH d AS (DELETE FROM items WHERE id = -1 RETURNING *) SELECT count(*) FROM d", side: "writer" },
  { sql: "SELECT * FROM items WHERE id = 1 FOR UPDATE", side: "writer", reason: "lock-clause" },
  // pgcat #887.
  { sql: "SELECT * FROM items WHERE id = 1 FOR NO KEY UPDATE", side: "writer", reason: "lock-clause" },
  { sql: "SELECT * FROM items WHERE id = 1 FOR SHARE", side: "writer", reason: "lock-clause" },
  { sql: "SELECT * FROM items WHERE id = 1 FOR KEY SHARE", side: "writer", reason: "lock-clause" },
  { sql: "SELECT * FROM (SELECT * FROM items WHERE id = 1 FOR UPDATE) AS x", side: "writer", reason: "lock-clause" },
  // pgcat #489.
  { sql: "SELECT nextval('ids')", side: "writer", reason: "writing-function:nextval" },
  { sql: "select setval('ids', 5000)", side: "writer", reason: "writing-function:setval" },
  { sql: "SELECT pg_advisory_xact_lock(42)", side: "writer", reason: "writing-function:pg_advisory_xact_lock" },
  { sql: "SELECT pg_try_advisory_xact_lock(7)", side: "writer" },
  { sql: "SELECT pg_notify('corpus', 'x')", side: "writer" },
  { sql: "SELECT set_config('work_mem', '8MB', true)", side: "writer" },
  { sql: "SELECT txid_current()", side: "writer" },
  { sql: "SELECT lo_create(0)", side: "writer" },
  { sql: "SELECT insert_note()", side: "writer", reason: "volatile-function:insert_note" },
  { sql: "SELECT * FROM items WHERE id = insert_note()", side: "writer" },
  { sql: "SELECT * INTO TEMP items_copy FROM items", side: "writer", reason: "select-into" },
  { sql: `EXPLAIN ANALYZE INSERT INTO items VALUES (${id()}, 'explained')`, side: "writer" },
  { sql: "CREATE TABLE IF NOT EXISTS ddl_probe (id int)", side: "writer" },
  { sql: "CREATE INDEX IF NOT EXISTS items_v ON items (v)", side: "writer" },
  { sql: "SET application_name = 'pgfleet'", side: "writer" },
  { sql: "DO $$ BEGIN PERFORM 1; END $$", side: "writer" },
  { sql: "CALL noop_procedure()", side: "writer" },
  { sql: "NOTIFY corpus, 'y'", side: "writer" },
  { sql: "UNLISTEN *", side: "writer" },
  { sql: "ANALYZE items", side: "writer" },
  { sql: "GRANT SELECT ON items TO PUBLIC", side: "writer" },
  { sql: `SELECT 1; INSERT INTO items VALUES (${id()}, 'multi')`, side: "writer" },
  { sql: "COPY items TO STDOUT", side: "writer", run: false },
  { sql: "LOCK TABLE items", side: "writer", run: false },
  { sql: "SELEC 1", side: "writer", reason: "parse-failed", run: false },
  { sql: "SELECT pg_logical_emit_message(true, 'p', 'x')", side: "writer", run: false }
]

const schema = [
  "CREATE TABLE items (id int PRIMARY KEY, v text)",
  "INSERT INTO items SELECT g, 'a' || g FROM generate_series(1, 10) AS g",
  "CREATE SEQUENCE ids",
  "CREATE TABLE notes (id serial PRIMARY KEY, body text)",
  "CREATE FUNCTION insert_note() RETURNS int VOLATILE LANGUAGE sql AS $$ INSERT INTO notes (body) VALUES ('x') RETURNING 1 $$",
  "CREATE FUNCTION stable_count() RETURNS bigint STABLE LANGUAGE sql AS $$ SELECT count(*) FROM items $$",
  "CREATE FUNCTION immutable_double(int) RETURNS int IMMUTABLE LANGUAGE sql AS $$ SELECT $1 * 2 $$",
  "CREATE PROCEDURE noop_procedure() LANGUAGE sql AS $$ SELECT 1 $$"
]

describe("classification", () => {
  it.effect(`a corpus of ${corpus.length} statements is classified as PostgreSQL's grammar says`, () =>
    Effect.gen(function*() {
      const wrong: Array<string> = []
      for (const c of corpus) {
        // The grammar alone: the user functions' volatility is checked against a real server below.
        if (c.sql.includes("insert_note")) continue
        const got = yield* StatementClassifier.classifyText(c.sql)
        if (got.side !== c.side || (c.reason !== undefined && got.reason !== c.reason)) {
          wrong.push(`${c.sql} -> ${got.side} (${got.reason}), expected ${c.side}${c.reason ? ` (${c.reason})` : ""}`)
        }
      }
      assert.deepStrictEqual(wrong, [])
      assert.isAtLeast(corpus.length, 60)
    }))
})

layer(TestCluster.layer({ replicas: 2 }), { excludeTestServices: true, timeout: "90 seconds" })("pg.auto", (it) => {
  it.effect("each statement runs where it must: reads on a replica, everything else on the writer", () =>
    Effect.gen(function*() {
      const cluster = yield* TestCluster.Cluster
      const pg = yield* Postgres.Postgres
      for (const statement of schema) yield* pg.writer.unsafe(statement)
      yield* cluster.waitForReplication()
      const readerPorts = cluster.readers.map((r) => r.port)
      const { spans, tracer } = recordingTracer()
      const wrong: Array<string> = []
      for (const c of corpus.filter((c) => c.run !== false)) {
        spans.length = 0
        const result = yield* Effect.either(pg.auto.unsafe<Record<string, unknown>>(c.sql, c.params ?? [])).pipe(
          Effect.withTracer(tracer)
        )
        const span = spans.find((s) => s.name === "sql.execute")
        const port = span?.attributes.get("server.port") as number | undefined
        const ranOn: Side | undefined = port === cluster.writer.port
          ? "writer"
          : readerPorts.includes(port!)
          ? "reader"
          : undefined
        if (result._tag === "Left") {
          wrong.push(`${c.sql}: failed on ${ranOn}: ${result.left.message} ${String(result.left.cause)}`)
        } else if (ranOn !== c.side) {
          wrong.push(`${c.sql}: ran on ${ranOn} (${span?.attributes.get("pgfleet.reason")}), expected ${c.side}`)
        } else if (c.side === "reader") {
          // Where the statement reports its own server, it must be a replica too.
          const rows = result.right
          const reported = Array.isArray(rows)
            ? (rows.flat() as Array<Record<string, unknown>>).find((r) => r && "port" in r)
            : undefined
          if (reported !== undefined && !readerPorts.includes(Number(reported.port))) {
            wrong.push(`${c.sql}: reported ${reported.port}`)
          }
        }
        if (span?.attributes.get("pgfleet.reason") === undefined) wrong.push(`${c.sql}: no pgfleet.reason on its span`)
      }
      assert.deepStrictEqual(wrong, [])
      // Unparseable text goes to the writer, which says why it cannot run.
      spans.length = 0
      const failed = yield* Effect.flip(pg.auto.unsafe("SELEC 1")).pipe(Effect.withTracer(tracer))
      assert.strictEqual((failed.cause as { code?: string }).code, "42601")
      assert.strictEqual(spans[0]!.attributes.get("server.port"), cluster.writer.port)
      assert.strictEqual(spans[0]!.attributes.get("pgfleet.reason"), "parse-failed")
      // Read-your-writes is tested on its own below; here every read must take the reader route.
    }).pipe(Effect.provide(fleet({ autoReadYourWrites: false }))))

  it.effect("a transaction through auto runs on the writer; withReadOnlyTransaction pins one replica", () =>
    Effect.gen(function*() {
      const cluster = yield* TestCluster.Cluster
      const pg = yield* Postgres.Postgres
      const port = pg.auto<{ port: number }>`SELECT current_setting('port')::int AS port`.pipe(
        Effect.map((rows) => rows[0]!.port)
      )
      const inWrite = yield* pg.auto.withTransaction(Effect.all([port, port, port]))
      assert.deepStrictEqual(inWrite, [cluster.writer.port, cluster.writer.port, cluster.writer.port])
      const inRead = yield* pg.withReadOnlyTransaction(Effect.all([port, port, port, port]))
      assert.strictEqual(new Set(inRead).size, 1)
      assert.include(cluster.readers.map((r) => r.port), inRead[0])
    }).pipe(Effect.provide(fleet({ readerStrategy: "round-robin" }))))

  it.effect("read-your-writes: with replay paused on one replica, a read after a write through auto sees it", () =>
    Effect.gen(function*() {
      const cluster = yield* TestCluster.Cluster
      const pg = yield* Postgres.Postgres
      yield* pg.auto`CREATE TABLE ryw (id int PRIMARY KEY)`
      yield* cluster.waitForReplication()
      yield* cluster.pauseReplay(0)
      const seen: Array<boolean> = []
      const ports = new Set<number>()
      yield* Effect.gen(function*() {
        for (let i = 1; i <= 20; i++) {
          yield* pg.auto`INSERT INTO ryw VALUES (${i})`
          const rows = yield* pg.auto<{ n: number; port: number }>`
            SELECT count(*)::int AS n, current_setting('port')::int AS port FROM ryw WHERE id = ${i}`
          seen.push(rows[0]!.n === 1)
          ports.add(rows[0]!.port)
        }
      }).pipe(Effect.ensuring(Effect.orDie(cluster.resumeReplay(0))))
      assert.deepStrictEqual(seen.filter((s) => !s), [])
      assert.notInclude([...ports], cluster.readers[0]!.port)
      // Once the replicas are seen to have replayed the writes, reads go to them again.
      yield* eventually(
        Effect.map(
          pg.auto<{ port: number }>`SELECT current_setting('port')::int AS port`,
          (r) => cluster.readers.some((reader) => reader.port === r[0]!.port)
        )
      )
    }).pipe(Effect.provide(fleet({ healthCheckInterval: "100 millis" }))))

  it.effect("a function made volatile by DDL through auto is picked up without a restart", () =>
    Effect.gen(function*() {
      const cluster = yield* TestCluster.Cluster
      const pg = yield* Postgres.Postgres
      const where = Effect.map(
        pg.auto<{ port: number }>`SELECT later_fn() AS n, current_setting('port')::int AS port`,
        (rows) => rows[0]!.port
      )
      yield* pg.auto`CREATE FUNCTION later_fn() RETURNS int STABLE LANGUAGE sql AS $$ SELECT 1 $$`
      yield* cluster.waitForReplication()
      assert.include(cluster.readers.map((r) => r.port), yield* where)
      yield* pg.auto`CREATE OR REPLACE FUNCTION later_fn() RETURNS int VOLATILE LANGUAGE sql AS $$ SELECT 2 $$`
      assert.strictEqual(yield* where, cluster.writer.port)
      // Without read-your-writes, only the new volatility can send the second read to the writer.
    }).pipe(Effect.provide(fleet({ autoReadYourWrites: false }))))
})
