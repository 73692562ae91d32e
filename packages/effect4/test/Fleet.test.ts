import { Effect, Fiber, ManagedRuntime } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Postgres } from "../src/index.js"
import { servedBy, startCluster } from "./helpers.js"

type Cluster = Awaited<ReturnType<typeof startCluster>>
let cluster: Cluster
let runtime: ManagedRuntime.ManagedRuntime<Postgres.Services, unknown>

beforeAll(async () => {
  cluster = await startCluster(2)
  // The test layer, over a cluster from @pgfleet/testing's Promise API.
  runtime = ManagedRuntime.make(Postgres.layerTest(cluster, { settings: { healthCheckInterval: 200 } }))
})
afterAll(async () => {
  await runtime?.dispose()
  await cluster?.stop()
})

const run = <A, E>(effect: Effect.Effect<A, E, Postgres.Postgres>) => runtime.runPromise(effect)

describe("effect 4 fleet", () => {
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

  it("loses no read when a replica dies", async () => {
    const failed = await run(Effect.gen(function*() {
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
      return failures
    }))
    expect(failed).toBe(0)
  })
})
