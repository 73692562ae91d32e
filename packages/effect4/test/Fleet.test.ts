import { Effect, Fiber, ManagedRuntime, Metric, Stream } from "effect"
import { Statement } from "effect/sql"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Postgres } from "../src/index.js"
import {
  driver,
  eventually,
  label,
  reasonOf,
  recordingTracer,
  servedBy,
  settingsOf,
  startCluster,
  withFleet
} from "./helpers.js"

type Cluster = Awaited<ReturnType<typeof startCluster>>

describe(`effect 4 fleet, DB_DRIVER=${driver}`, () => {
  let cluster: Cluster
  let runtime: ManagedRuntime.ManagedRuntime<Postgres.Services, unknown>

  beforeAll(async () => {
    cluster = await startCluster(2)
    // The test layer, over a cluster from @pgfleet/testing's Promise API.
    runtime = ManagedRuntime.make(Postgres.layerTest(cluster, { settings: { healthCheckInterval: 200, driver } }))
  })
  afterAll(async () => {
    await runtime?.dispose()
    await cluster?.stop()
  })

  const run = <A, E>(effect: Effect.Effect<A, E, Postgres.Postgres>) => runtime.runPromise(effect)

  it("writes on the primary and reads on a replica, with read-your-writes", async () => {
    const result = await run(Effect.gen(function*() {
      const pg = yield* Postgres.Postgres
      yield* pg.writer`CREATE TABLE IF NOT EXISTS e4_items (id int PRIMARY KEY, name text)`
      yield* pg.writer`INSERT INTO e4_items VALUES (1, 'one') ON CONFLICT DO NOTHING`
      const onWriter = yield* servedBy(pg.writer)
      const onReader = yield* servedBy(pg.reader)
      const seen = yield* pg.withReadYourWrites(pg.reader<{ name: string }>`SELECT name FROM e4_items WHERE id = 1`)
      const autoRead = yield* servedBy(pg.auto)
      const count = yield* pg.reader<{ n: bigint }>`SELECT count(*) AS n FROM e4_items`
      return { onWriter, onReader, seen, autoRead, count }
    }))
    expect(result.onWriter.standby).toBe(false)
    expect(result.onReader.standby).toBe(true)
    expect(result.seen).toEqual([{ name: "one" }])
    expect(result.autoRead.standby).toBe(true)
    // As @effect/sql-pg 4 decodes int8.
    expect(typeof result.count[0]!.n).toBe("bigint")
  })

  it("a transaction on the writer sees its own writes and commits", async () => {
    const rows = await run(Effect.gen(function*() {
      const pg = yield* Postgres.Postgres
      yield* pg.writer.withTransaction(Effect.gen(function*() {
        yield* pg.writer`INSERT INTO e4_items VALUES (2, 'two') ON CONFLICT DO NOTHING`
        const inside = yield* pg.writer<{ name: string }>`SELECT name FROM e4_items WHERE id = 2`
        expect(inside).toEqual([{ name: "two" }])
      }))
      return yield* pg.writer<{ name: string }>`SELECT name FROM e4_items WHERE id = 2`
    }))
    expect(rows).toEqual([{ name: "two" }])
  })

  it("a statement made again from its template runs as the first did: untraced, traced, in a transaction, transformed", async () => {
    const { spans, tracer } = recordingTracer()
    const transformed: Array<string> = []
    const transformer: Statement.Transformer = (self) =>
      Effect.sync(() => {
        transformed.push(self.compile()[0])
        return self
      })
    type Row = { id: number; standby: boolean; mark: string | null }
    // One template site, so every call after the first is the same kept statement.
    const read = (sql: Postgres.Service["reader"], id: number) =>
      sql<Row>`SELECT ${id}::int AS id, pg_is_in_recovery() AS standby, current_setting('e4.mark', true) AS mark`
    const idAndStandby = (rows: ReadonlyArray<Row>) => rows.map(({ id, standby }) => ({ id, standby }))
    const result = await run(Effect.gen(function*() {
      const pg = yield* Postgres.Postgres
      const plain = yield* Effect.forEach([1, 2, 3], (id) => Effect.map(read(pg.reader, id), idAndStandby))
      const values = yield* read(pg.reader, 4).values
      const traced = yield* Effect.forEach([5, 6], (id) => Effect.map(read(pg.reader, id), idAndStandby)).pipe(
        Effect.withTracer(tracer)
      )
      // A reader statement inside a writer transaction joins it: the primary, and the transaction's own setting.
      const inTransaction = yield* pg.writer.withTransaction(
        Effect.andThen(pg.writer`SET LOCAL e4.mark = 'seven'`, read(pg.reader, 7))
      )
      const viaTransformer = yield* read(pg.reader, 8).pipe(
        Effect.map(idAndStandby),
        Effect.provideService(Statement.CurrentTransformer, transformer)
      )
      return { plain, values, traced, inTransaction, viaTransformer }
    }))
    expect(result.plain).toEqual([1, 2, 3].map((id) => [{ id, standby: true }]))
    expect(result.values.map((row) => row.slice(0, 2))).toEqual([[4, true]])
    expect(result.traced).toEqual([[{ id: 5, standby: true }], [{ id: 6, standby: true }]])
    const executed = spans.filter((s) => s.name === "sql.execute")
    expect(executed.map((s) => s.attributes.get("db.query.text"))).toEqual([
      expect.stringContaining("SELECT $1::int AS id"),
      expect.stringContaining("SELECT $1::int AS id")
    ])
    expect(result.inTransaction).toEqual([{ id: 7, standby: false, mark: "seven" }])
    expect(result.viaTransformer).toEqual([{ id: 8, standby: true }])
    expect(transformed).toEqual([expect.stringContaining("SELECT $1::int AS id")])
  })

  it("streams a replica's rows, and stats count the connections held", async () => {
    const result = await run(Effect.gen(function*() {
      const pg = yield* Postgres.Postgres
      const streamed = yield* Stream.runCollect(
        pg.reader<{ n: number }>`SELECT g AS n, pg_is_in_recovery() AS standby FROM generate_series(1, 1000) AS g`
          .stream
      )
      // A transaction holds one writer connection while it runs.
      const inUse = yield* pg.writer.withTransaction(Effect.gen(function*() {
        yield* pg.writer`SELECT 1`
        const stats = yield* pg.stats
        return stats.find((s) => s.role === "writer")!.inUse
      }))
      const after = yield* pg.stats
      return { streamed, inUse, after: after.find((s) => s.role === "writer")! }
    }))
    expect(result.streamed.length).toBe(1000)
    expect(result.streamed[999]).toEqual({ n: 1000, standby: true })
    expect(result.inUse).toBe(1)
    expect(result.after.inUse).toBe(0)
    expect(result.after.total).toBeGreaterThanOrEqual(1)
  })

  it("an interrupted statement is cancelled on the server", async () => {
    const running = await run(Effect.gen(function*() {
      const pg = yield* Postgres.Postgres
      const fiber = yield* Effect.forkChild(pg.writer`SELECT pg_sleep(5) AS e4_cancel_me`)
      yield* Effect.sleep("500 millis")
      yield* Fiber.interrupt(fiber)
      yield* Effect.sleep("300 millis")
      return yield* pg.writer<{ n: number }>`
        SELECT count(*)::int AS n FROM pg_stat_activity
        WHERE query LIKE '%e4_cancel_me%' AND state = 'active' AND pid <> pg_backend_pid()`
    }))
    expect(running[0]!.n).toBe(0)
  })

  it("statements, transactions and streams interrupted while they wait for a connection or run leave none counted as waiting or in use", async () => {
    const stats = await run(Effect.gen(function*() {
      const pg = yield* Postgres.Postgres
      // 64 callers on pools of fewer connections: most wait, and the timeouts end some waiting, some running.
      yield* Effect.forEach(
        Array.from({ length: 256 }, (_, i) => i),
        (i) => Effect.ignore(Effect.timeout(pg.reader`SELECT pg_sleep(${(i % 5) / 1000})`, `${i % 7} millis`)),
        { concurrency: 64, discard: true }
      )
      // Transactions and streams, which hold a connection, ended the same ways.
      yield* Effect.forEach(
        Array.from({ length: 64 }, (_, i) => i),
        (i) =>
          Effect.ignore(Effect.timeout(
            i % 2 === 0
              ? pg.writer.withTransaction(pg.writer`SELECT pg_sleep(${(i % 5) / 1000})`)
              : Stream.runDrain(pg.reader`SELECT g FROM generate_series(1, ${i * 100}) AS g`.stream),
            `${i % 7} millis`
          )),
        { concurrency: 16, discard: true }
      )
      // Interrupted statements are cancelled on the server before their connections come back.
      yield* Effect.sleep("1 second")
      return yield* pg.stats
    }))
    expect(stats.filter((s) => s.role === "reader").length).toBe(2)
    for (const s of stats) {
      expect({ host: s.host, waiting: s.waiting, inUse: s.inUse }).toEqual({ host: s.host, waiting: 0, inUse: 0 })
    }
  })

  it("DB_POOL_TIMEOUT bounds the wait for a free connection: statements and transactions fail with AcquireTimeout", async () => {
    const outcome = await withFleet(
      settingsOf(cluster, { minPoolSize: 1, maxPoolSize: 2, poolTimeout: "300 millis" }),
      Effect.gen(function*() {
        const pg = yield* Postgres.Postgres
        // Both of the writer's connections busy for 2 s.
        const sleepers = yield* Effect.forkChild(
          Effect.all([pg.writer`SELECT pg_sleep(2)`, pg.writer`SELECT pg_sleep(2)`], { concurrency: 2 })
        )
        // Both sleeps hold their connections, not a fixed pause: a loaded machine is slow to start them.
        yield* eventually(
          Effect.map(pg.stats, (stats) => stats.find((s) => s.role === "writer")!.inUse === 2),
          "both writer connections in use"
        )
        const statement = yield* Effect.flip(pg.writer`SELECT 1`)
        const transaction = yield* Effect.flip(pg.writer.withTransaction(pg.writer`SELECT 1`))
        const whileBusy = yield* pg.stats
        yield* Fiber.join(sleepers)
        const after = yield* pg.writer<{ n: number }>`SELECT 1 AS n`
        const stats = yield* pg.stats
        const timeouts = (yield* Metric.snapshot).filter((m) =>
          m.id === "db.client.connection.timeouts" &&
          String(m.attributes?.["db.client.connection.pool.name"]).includes(label(cluster.writer))
        ).reduce((n, m) => n + (m.state as { count: number }).count, 0)
        return { statement, transaction, whileBusy, after, stats, timeouts }
      })
    )
    expect(reasonOf(outcome.statement)).toBe("AcquireTimeout")
    expect(reasonOf(outcome.transaction)).toBe("AcquireTimeout")
    expect(outcome.whileBusy.find((s) => s.role === "writer")!.inUse).toBe(2)
    expect(outcome.after).toEqual([{ n: 1 }])
    const writer = outcome.stats.find((s) => s.role === "writer")!
    expect({ waiting: writer.waiting, inUse: writer.inUse }).toEqual({ waiting: 0, inUse: 0 })
    expect(outcome.timeouts).toBeGreaterThanOrEqual(1)
  })

  it("a transaction's span and its statements' spans name the server of the connection it holds", async () => {
    const { spans, tracer } = recordingTracer()
    const [onWriter, onReader] = await run(
      Effect.gen(function*() {
        const pg = yield* Postgres.Postgres
        return yield* Effect.all([
          pg.writer.withTransaction(Effect.andThen(pg.writer`SELECT 1`, servedBy(pg.writer))),
          pg.reader.withTransaction(servedBy(pg.reader))
        ])
      }).pipe(Effect.provideService(Statement.SpanPropagationEnabled, true), Effect.withTracer(tracer))
    )
    expect(onWriter.port).not.toBe(onReader.port)
    const transactions = spans.filter((s) => s.name === "sql.transaction")
    expect(transactions.map((s) => [s.attributes.get("server.port"), s.attributes.get("pgfleet.route")])).toEqual([
      [onWriter.port, "writer"],
      [onReader.port, "strategy"]
    ])
    const statements = spans.filter((s) => s.name === "sql.execute")
    expect(statements.map((s) => s.attributes.get("server.port"))).toEqual([
      onWriter.port,
      onWriter.port,
      onReader.port
    ])
    // Without span propagation, the transaction's span still names its server.
    spans.length = 0
    await run(
      Effect.gen(function*() {
        const pg = yield* Postgres.Postgres
        yield* pg.writer.withTransaction(pg.writer`SELECT 1`)
      }).pipe(Effect.withTracer(tracer))
    )
    expect(spans.filter((s) => s.name === "sql.transaction").map((s) => s.attributes.get("server.port"))).toEqual([
      onWriter.port
    ])
  })

  it("loses no read when a replica dies: each read that failed there is retried in a pgfleet.read.retry span, and counted", async () => {
    const { spans, tracer } = recordingTracer()
    const stopped = label(cluster.readers[0]!)
    const { failed, retries } = await run(
      Effect.gen(function*() {
        const pg = yield* Postgres.Postgres
        let failures = 0
        const reads = Effect.forEach(
          Array.from({ length: 300 }, (_, i) => i),
          () =>
            pg.reader`SELECT 1 AS one`.pipe(
              Effect.catch(() => Effect.sync(() => void failures++)),
              Effect.andThen(Effect.sleep("5 millis"))
            ),
          { concurrency: 8, discard: true }
        )
        const fiber = yield* Effect.forkChild(reads)
        yield* Effect.sleep("200 millis")
        yield* Effect.promise(() => cluster.stopReader(0, "immediate"))
        yield* Fiber.join(fiber)
        const retries = (yield* Metric.snapshot).filter((m) =>
          m.id === "pgfleet_read_retries_total" && m.attributes?.host === stopped
        )
        return { failed: failures, retries: retries.reduce((n, m) => n + (m.state as { count: number }).count, 0) }
      }).pipe(Effect.provideService(Statement.SpanPropagationEnabled, true), Effect.withTracer(tracer))
    )
    expect(failed).toBe(0)
    // Reads in flight on the replica, or sent to it before the monitor saw it down, were tried again elsewhere.
    const retried = spans.filter((s) => s.name === "pgfleet.read.retry")
    expect(retried.length).toBeGreaterThan(0)
    expect(retries).toBe(retried.length)
    for (const s of retried) expect(s.attributes.get("pgfleet.failed_host")).toBe(stopped)
    // The statement's own span says where it was retried (span propagation on).
    const statements = spans.filter((s) => s.attributes.get("pgfleet.retried_on") !== undefined)
    expect(statements.length).toBe(retried.length)
    for (const s of statements) expect(s.attributes.get("pgfleet.retried_on")).not.toBe(stopped)
  })
})
