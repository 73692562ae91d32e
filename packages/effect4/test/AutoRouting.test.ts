import { Cause, Effect, Exit } from "effect"
import { Statement } from "effect/sql"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { corpus, schema, type Side } from "../../postgres/test/autoCorpus.js"
import { Postgres, StatementClassifier } from "../src/index.js"
import { driver, eventually, recordingTracer, settingsOf, startCluster, withFleet } from "./helpers.js"

type Cluster = Awaited<ReturnType<typeof startCluster>>
let cluster: Cluster
beforeAll(async () => {
  cluster = await startCluster(2)
  // As the fleet's user, as an application would.
  await withFleet(
    settingsOf(cluster),
    Effect.flatMap(Postgres.Postgres, (pg) => Effect.forEach(schema, (statement) => pg.writer.unsafe(statement)))
  )
  await cluster.waitForReplication()
})
afterAll(() => cluster?.stop())

describe("pg.auto (effect 4), with the Effect 3 line's corpus", () => {
  it(`classifies the ${corpus.length} statements as PostgreSQL's grammar says`, async () => {
    const wrong: Array<string> = []
    for (const c of corpus) {
      // The grammar alone: the user functions' volatility is checked against a real server below.
      if (c.sql.includes("insert_note")) continue
      const got = await Effect.runPromise(StatementClassifier.classifyText(c.sql))
      if (got.side !== c.side || (c.reason !== undefined && got.reason !== c.reason)) {
        wrong.push(`${c.sql} -> ${got.side} (${got.reason}), expected ${c.side}`)
      }
    }
    expect(wrong).toEqual([])
  })

  it("runs each statement where it must: reads on a replica, everything else on the writer", async () => {
    const readerPorts = cluster.readers.map((r) => r.port)
    const { spans, tracer } = recordingTracer()
    const wrong = await withFleet(
      settingsOf(cluster, { autoReadYourWrites: false }),
      Effect.gen(function*() {
        const pg = yield* Postgres.Postgres
        const wrong: Array<string> = []
        for (const c of corpus.filter((c) => c.run !== false)) {
          spans.length = 0
          const exit = yield* Effect.exit(pg.auto.unsafe<Record<string, unknown>>(c.sql, c.params ?? [])).pipe(
            Effect.withTracer(tracer)
          )
          const span = spans.find((s) => s.name === "sql.execute")
          const port = span?.attributes.get("server.port") as number | undefined
          const ranOn: Side | undefined = port === cluster.writer.port
            ? "writer"
            : readerPorts.includes(port!)
            ? "reader"
            : undefined
          if (c.multiStatement && driver === "sql-pg") {
            // sql-pg 4 sends every text through Parse, which takes one statement: it fails where it was routed.
            const code = Exit.isFailure(exit)
              ? Cause.squash(exit.cause) as { reason?: { cause?: { code?: string } } }
              : undefined
            if (ranOn !== c.side) wrong.push(`${c.sql}: ran on ${ranOn}, expected ${c.side}`)
            else if (code?.reason?.cause?.code !== "42601") wrong.push(`${c.sql}: not refused by Parse (42601)`)
            continue
          }
          if (Exit.isFailure(exit)) wrong.push(`${c.sql}: failed on ${ranOn}`)
          else if (ranOn !== c.side) {
            wrong.push(`${c.sql}: ran on ${ranOn} (${span?.attributes.get("pgfleet.reason")}), expected ${c.side}`)
          } else if (c.side === "reader") {
            // Where the statement reports its own server, it must be a replica too.
            const rows = exit.value as unknown
            const reported = Array.isArray(rows)
              ? (rows.flat() as Array<Record<string, unknown>>).find((r) => r && "port" in r)
              : undefined
            if (reported !== undefined && !readerPorts.includes(Number(reported.port))) {
              wrong.push(`${c.sql}: reported ${reported.port}`)
            }
          }
          if (span?.attributes.get("pgfleet.reason") === undefined) {
            wrong.push(`${c.sql}: no pgfleet.reason on its span`)
          }
        }
        // Unparseable text goes to the writer, which says why it cannot run.
        spans.length = 0
        const failed = yield* Effect.flip(pg.auto.unsafe("SELEC 1")).pipe(Effect.withTracer(tracer))
        const span = spans.find((s) => s.name === "sql.execute")
        if ((failed.reason.cause as { code?: string }).code !== "42601") wrong.push("SELEC 1: not 42601")
        if (span?.attributes.get("server.port") !== cluster.writer.port) wrong.push("SELEC 1: not on the writer")
        if (span?.attributes.get("pgfleet.reason") !== "parse-failed") wrong.push("SELEC 1: not parse-failed")
        return wrong
      }).pipe(
        // effect/sql passes its statement span down (for pgfleet to name the host) only with propagation on.
        Effect.provideService(Statement.SpanPropagationEnabled, true)
      )
    )
    expect(wrong).toEqual([])
  })

  it("a transaction through auto runs on the writer; withReadOnlyTransaction pins one replica", async () => {
    const [inWrite, inRead] = await withFleet(
      settingsOf(cluster, { readerStrategy: "round-robin" }),
      Effect.gen(function*() {
        const pg = yield* Postgres.Postgres
        const port = pg.auto<{ port: number }>`SELECT current_setting('port')::int AS port`.pipe(
          Effect.map((rows) => rows[0]!.port)
        )
        return [
          yield* pg.auto.withTransaction(Effect.all([port, port, port])),
          yield* pg.withReadOnlyTransaction(Effect.all([port, port, port, port]))
        ] as const
      })
    )
    expect(inWrite).toEqual([cluster.writer.port, cluster.writer.port, cluster.writer.port])
    expect(new Set(inRead).size).toBe(1)
    expect(cluster.readers.map((r) => r.port)).toContain(inRead[0])
  })

  it("read-your-writes: with replay paused on one replica, a read after a write through auto sees it", async () => {
    const outcome = await withFleet(
      settingsOf(cluster, { healthCheckInterval: "100 millis" }),
      Effect.gen(function*() {
        const pg = yield* Postgres.Postgres
        yield* pg.auto`CREATE TABLE ryw (id int PRIMARY KEY)`
        yield* Effect.promise(() => cluster.waitForReplication())
        yield* Effect.promise(() => cluster.pauseReplay(0))
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
        }).pipe(Effect.ensuring(Effect.promise(() => cluster.resumeReplay(0))))
        // Once the replicas are seen to have replayed the writes, reads go to them again.
        yield* eventually(
          Effect.map(
            pg.auto<{ port: number }>`SELECT current_setting('port')::int AS port`,
            (r) => cluster.readers.some((reader) => reader.port === r[0]!.port)
          ),
          "reads back on a replica"
        )
        return { seen, ports }
      })
    )
    expect(outcome.seen.filter((s) => !s)).toEqual([])
    expect([...outcome.ports]).not.toContain(cluster.readers[0]!.port)
  })

  it("without read-your-writes, the read after a write may go to the lagging replica (the test can fail)", async () => {
    const ports = await withFleet(
      settingsOf(cluster, { autoReadYourWrites: false, readerStrategy: "round-robin" }),
      Effect.gen(function*() {
        const pg = yield* Postgres.Postgres
        yield* pg.auto`CREATE TABLE ryw_off (id int PRIMARY KEY)`
        yield* Effect.promise(() => cluster.waitForReplication())
        yield* Effect.promise(() => cluster.pauseReplay(0))
        const ports = new Set<number>()
        yield* Effect.gen(function*() {
          for (let i = 1; i <= 6; i++) {
            yield* pg.auto`INSERT INTO ryw_off VALUES (${i})`
            const rows = yield* pg.auto<{ port: number }>`SELECT current_setting('port')::int AS port`
            ports.add(rows[0]!.port)
          }
        }).pipe(Effect.ensuring(Effect.promise(() => cluster.resumeReplay(0))))
        return ports
      })
    )
    expect([...ports]).toContain(cluster.readers[0]!.port)
  })
})
