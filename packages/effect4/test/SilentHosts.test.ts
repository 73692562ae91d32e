import { Duration, Effect, Exit, Fiber } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { HealthMonitor, Postgres, PostgresConfig } from "../src/index.js"
import { eventually, label, reasonOf, settingsOf, startCluster, withFleet } from "./helpers.js"

type Cluster = Awaited<ReturnType<typeof startCluster>>
let cluster: Cluster
beforeAll(async () => {
  cluster = await startCluster(2)
})
afterAll(() => cluster?.stop())

/** One statement's run: when it started and ended, and how it failed. */
interface Run {
  readonly start: number
  readonly end: number
  readonly failure: string | undefined
}

/** `fibers` loops of `op` until `stopped()`, each run timed; a failed run pauses 20 ms, as a caller's backoff would. */
const timed = (op: (n: number) => Effect.Effect<unknown, unknown>, fibers: number, stopped: () => boolean) =>
  Effect.forEach(
    Array.from({ length: fibers }, (_, fiber) => fiber),
    (fiber) =>
      Effect.gen(function*() {
        const runs: Array<Run> = []
        for (let n = 0; !stopped(); n++) {
          const start = Date.now()
          const exit = yield* Effect.exit(op(fiber * 1_000_000 + n))
          const failure = Exit.isFailure(exit)
            ? reasonOf(exit.cause.reasons.find((r) => r._tag === "Fail")?.error ?? "defect")
            : undefined
          runs.push({ start, end: Date.now(), failure })
          if (failure !== undefined) yield* Effect.sleep("20 millis")
        }
        return runs
      }),
    { concurrency: "unbounded" }
  ).pipe(Effect.map((all) => all.flat().sort((a, b) => a.start - b.start)))

const longest = (runs: ReadonlyArray<Run>) => runs.reduce((max, r) => Math.max(max, r.end - r.start), 0)

/** The bound: no statement waits longer than the detection time plus 1 s. */
const boundOf = (settings: PostgresConfig.PostgresSettings) =>
  Duration.toMillis(HealthMonitor.detectionTime(settings)) + 1000

describe("silent hosts (effect 4), default settings", () => {
  it("a frozen writer: writes in flight end at detection, new ones fail fast, then resume; reads go on", async () => {
    await cluster.query("writer", "CREATE TABLE frozen_writes (id int NOT NULL)")
    await cluster.query("writer", "GRANT ALL ON frozen_writes TO PUBLIC")
    await cluster.waitForReplication()
    const outcome = await withFleet(
      settingsOf(cluster, { applicationName: "e4-frozen-writer" }),
      Effect.gen(function*() {
        const pg = yield* Postgres.Postgres
        const monitor = yield* HealthMonitor.HealthMonitor
        const settings = yield* PostgresConfig.PostgresConfig
        const host = label(cluster.writer)
        let stop = false
        // A write that holds its connection a while, so the freeze finds some in flight.
        const writes = yield* Effect.forkChild(
          timed((id) => pg.writer`INSERT INTO frozen_writes SELECT ${id} FROM pg_sleep(0.05)`, 4, () => stop)
        )
        const reads = yield* Effect.forkChild(timed(() => pg.reader`SELECT 1`, 4, () => stop))
        yield* Effect.sleep("1 second")
        yield* Effect.promise(() => cluster.freezeWriter())
        let downAt = 0
        yield* eventually(Effect.sync(() => monitor.health(host).state === "down"), `${host} down`, 300).pipe(
          Effect.andThen(Effect.sync(() => (downAt = Date.now()))),
          Effect.andThen(Effect.sleep("6 seconds")),
          Effect.ensuring(Effect.promise(() => cluster.thawWriter()))
        )
        const healedAt = Date.now()
        yield* eventually(Effect.sync(() => monitor.health(host).state === "healthy"), `${host} healthy`, 300)
        yield* Effect.sleep("1 second")
        stop = true
        const duplicates = yield* pg.writer<{ n: number }>`
          SELECT count(*)::int AS n FROM (SELECT id FROM frozen_writes GROUP BY id HAVING count(*) > 1) AS d`
        return {
          writes: yield* Fiber.join(writes),
          reads: yield* Fiber.join(reads),
          downAt,
          healedAt,
          bound: boundOf(settings),
          duplicates: duplicates[0]!.n
        }
      })
    )
    const { bound, downAt, healedAt, reads, writes } = outcome
    expect(longest(writes), "no write waits past the detection time + 1 s").toBeLessThanOrEqual(bound)
    expect(longest(reads), "no read waits past the detection time + 1 s").toBeLessThanOrEqual(bound)
    expect(reads.filter((r) => r.failure !== undefined), "0 failed reads").toEqual([])
    // Between detection and the thaw, writes fail fast, and only as the issue says.
    const duringFault = writes.filter((w) => w.start > downAt + 100 && w.end < healedAt)
    expect(duringFault.length).toBeGreaterThan(10)
    for (const w of duringFault) expect(w.failure).toBe("Unavailable")
    for (const w of writes) {
      if (w.failure !== undefined) expect(["Unavailable", "OutcomeUnknown", "NotSent"]).toContain(w.failure)
    }
    expect(writes.some((w) => w.failure === "OutcomeUnknown"), "writes in flight were ended").toBe(true)
    expect(writes.some((w) => w.start >= healedAt && w.failure === undefined), "writes resumed").toBe(true)
    expect(outcome.duplicates).toBe(0)
  })

  it("a frozen replica: 8 readers lose no read and none waits past detection", async () => {
    const outcome = await withFleet(
      settingsOf(cluster, { applicationName: "e4-frozen-replica" }),
      Effect.gen(function*() {
        const pg = yield* Postgres.Postgres
        const monitor = yield* HealthMonitor.HealthMonitor
        const settings = yield* PostgresConfig.PostgresConfig
        const host = label(cluster.readers[0]!)
        let stop = false
        const reads = yield* Effect.forkChild(timed(() => pg.reader`SELECT 1`, 8, () => stop))
        yield* Effect.sleep("1 second")
        yield* Effect.promise(() => cluster.freezeReader(0))
        yield* eventually(Effect.sync(() => monitor.health(host).state === "down"), `${host} down`, 300).pipe(
          Effect.andThen(Effect.sleep("5 seconds")),
          Effect.ensuring(Effect.promise(() => cluster.thawReader(0)))
        )
        yield* eventually(Effect.sync(() => monitor.health(host).state === "healthy"), `${host} healthy`, 300)
        stop = true
        return { reads: yield* Fiber.join(reads), bound: boundOf(settings) }
      })
    )
    expect(outcome.reads.filter((r) => r.failure !== undefined), "0 failed reads").toEqual([])
    expect(outcome.reads.length).toBeGreaterThan(500)
    expect(longest(outcome.reads)).toBeLessThanOrEqual(outcome.bound)
  })
})
