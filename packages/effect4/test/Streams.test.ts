import { Effect, Stream } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Postgres } from "../src/index.js"
import { settingsOf, startCluster, withFleet } from "./helpers.js"

type Cluster = Awaited<ReturnType<typeof startCluster>>
let cluster: Cluster
beforeAll(async () => {
  cluster = await startCluster(1)
})
afterAll(() => cluster?.stop())

const activeNamed = (member: "writer" | 0, marker: string) =>
  Effect.promise(() =>
    cluster.query<{ n: number }>(
      member,
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE query LIKE '%${marker}%' AND state <> 'idle'
         AND pid <> pg_backend_pid()`
    )
  ).pipe(Effect.map((rows) => rows[0]!.n))

describe("streams (effect 4): read through a cursor, as they are pulled", () => {
  it("a stream on the reader runs on a replica, batch by batch, and gives its connection back when it ends", async () => {
    const outcome = await withFleet(
      settingsOf(cluster),
      Effect.gen(function*() {
        const pg = yield* Postgres.Postgres
        const all = yield* Stream.runCollect(
          pg.reader<{ g: number; standby: boolean }>`
            SELECT g, pg_is_in_recovery() AS standby FROM generate_series(1, 10000) AS g`.stream
        )
        // 50 million rows (a set-returning function in the select list is not materialized on the server): read
        // whole first, they would not fit in memory; a cursor reads 128 at a time.
        const huge = pg.reader<{ e4_stream_marker: number }>`SELECT generate_series(1, 50000000) AS e4_stream_marker`
        let openWhileReading = -1
        const first = yield* huge.stream.pipe(
          Stream.take(300),
          Stream.tap(() =>
            openWhileReading >= 0
              ? Effect.void
              : Effect.map(activeNamed(0, "e4_stream_marker"), (n) => void (openWhileReading = n))
          ),
          Stream.runCollect
        )
        const openAfter = yield* activeNamed(0, "e4_stream_marker")
        const inUse = (yield* pg.stats).reduce((n, s) => n + s.inUse, 0)
        return { all, first, openWhileReading, openAfter, inUse }
      })
    )
    expect(outcome.all.length).toBe(10000)
    expect(new Set(outcome.all.map((r) => r.standby))).toEqual(new Set([true]))
    expect(outcome.first.length).toBe(300)
    // While the first rows are read, the statement is still open on the replica: the rest is not read yet.
    expect(outcome.openWhileReading).toBe(1)
    expect(outcome.openAfter).toBe(0)
    expect(outcome.inUse).toBe(0)
  })

  it("a stream inside a writer transaction sees its uncommitted writes; through auto a read streams from a replica", async () => {
    const outcome = await withFleet(
      settingsOf(cluster),
      Effect.gen(function*() {
        const pg = yield* Postgres.Postgres
        yield* pg.writer`CREATE TABLE streamed (id int)`
        const inside = yield* pg.writer.withTransaction(Effect.gen(function*() {
          yield* pg.writer`INSERT INTO streamed SELECT g FROM generate_series(1, 500) AS g`
          return yield* Stream.runCollect(pg.reader<{ id: number }>`SELECT id FROM streamed`.stream)
        }))
        const viaAuto = yield* Stream.runCollect(
          pg.auto<{ standby: boolean }>`SELECT pg_is_in_recovery() AS standby FROM generate_series(1, 3)`.stream
        )
        return { inside: inside.length, viaAuto }
      })
    )
    expect(outcome.inside).toBe(500)
    expect(outcome.viaAuto.map((r) => r.standby)).toEqual([true, true, true])
  })
})
