import { assert, describe, it, layer } from "@effect/vitest"
import { Postgres, StatementClassifier } from "@pgfleet/postgres"
import { eventually, TestCluster } from "@pgfleet/testing"
import { Effect } from "effect"
import { corpus, schema, type Side } from "./autoCorpus.js"
import { fleet, recordingTracer } from "./helpers.js"

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
