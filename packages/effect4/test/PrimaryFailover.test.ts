import { Effect, Exit, Fiber, Layer, Metric, Queue, Redacted, Scope } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import { HealthMonitor, Postgres, PostgresError } from "../src/index.js"
import { eventually, fast, label, reasonOf, settingsOf, startCluster, withFleet } from "./helpers.js"

type Cluster = Awaited<ReturnType<typeof startCluster>>
let cluster: Cluster | undefined
afterEach(async () => {
  await cluster?.stop()
  cluster = undefined
})

/** Outcomes of `op` repeated by `fibers` fibers until `stop()`: the port it reported, or why it failed. */
const loop = (op: Effect.Effect<number, unknown>, fibers: number, stopped: () => boolean) =>
  Effect.forEach(
    Array.from({ length: fibers }),
    () =>
      Effect.gen(function*() {
        const outcomes: Array<{ at: number; port?: number; failure?: string }> = []
        while (!stopped()) {
          const exit = yield* Effect.exit(op)
          if (Exit.isSuccess(exit)) outcomes.push({ at: Date.now(), port: exit.value })
          else {
            const failure = exit.cause.reasons.find((r) => r._tag === "Fail")
            outcomes.push({ at: Date.now(), failure: failure ? reasonOf(failure.error) : "defect" })
            yield* Effect.sleep("20 millis")
          }
        }
        return outcomes
      }),
    { concurrency: "unbounded" }
  ).pipe(Effect.map((all) => all.flat().sort((a, b) => a.at - b.at)))

describe("primary failover (effect 4)", () => {
  it("writes follow a promoted replica; no write reaches a standby; listen follows the writer", async () => {
    const c = cluster = await startCluster(2)
    const [r0, r1] = c.readers
    const settings = settingsOf(c, { ...fast, writerHosts: [label(c.writer), label(r0!)] })
    const outcome = await withFleet(
      settings,
      Effect.gen(function*() {
        const pg = yield* Postgres.Postgres
        yield* pg.writer`CREATE TABLE moves (id serial PRIMARY KEY, port int)`
        yield* Effect.promise(() => c.waitForReplication())
        let stop = false
        const port = (sql: typeof pg.writer, text: string) =>
          Effect.map(sql.unsafe<{ port: number }>(text), (rows) => rows[0]!.port)
        const writes = yield* Effect.forkChild(
          loop(
            port(pg.writer, "INSERT INTO moves (port) VALUES (current_setting('port')::int) RETURNING port"),
            4,
            () => stop
          )
        )
        const reads = yield* Effect.forkChild(
          loop(port(pg.reader, "SELECT current_setting('port')::int AS port"), 8, () => stop)
        )
        // listen, started before the failover, must hear what is sent on the new primary.
        const scope = yield* Scope.make()
        const received = yield* Scope.provide(pg.writer.listen("moves"), scope)
        yield* Effect.sleep("1 second")
        yield* Effect.promise(() => c.stopWriter("fast"))
        yield* Effect.promise(() => c.promoteReader(0))
        yield* Effect.promise(() => c.followWriter(1, 0))
        yield* eventually(
          Effect.map(
            Effect.exit(port(pg.writer, "SELECT current_setting('port')::int AS port")),
            (e) => Exit.isSuccess(e) && e.value === r0!.port
          ),
          "writes reach the promoted replica"
        )
        yield* Effect.sleep("1500 millis")
        stop = true
        const written = yield* Fiber.join(writes)
        const read = yield* Fiber.join(reads)
        let heard = false
        yield* eventually(
          Effect.gen(function*() {
            yield* pg.writer.notify("moves", "after")
            const got = yield* Effect.timeoutOption(Queue.take(received), "200 millis")
            heard ||= got._tag === "Some" && got.value.payload === "after"
            return heard
          }),
          "listen heard the new primary"
        )
        yield* Scope.close(scope, Exit.void)
        return { written, read, stats: yield* pg.stats, config: pg.writer.config, metrics: yield* Metric.snapshot }
      })
    )
    const firstOnNew = outcome.written.find((w) => w.port === r0!.port)
    expect(firstOnNew, "a write landed on the promoted replica").toBeDefined()
    const afterSwitch = outcome.written.filter((w) => w.at > firstOnNew!.at)
    expect(afterSwitch.length).toBeGreaterThan(10)
    // Every write after the switch landed on the new primary.
    expect(afterSwitch.filter((w) => w.port !== undefined && w.port !== r0!.port)).toEqual([])
    const failures = outcome.written.flatMap((w) => w.failure === undefined ? [] : [w.failure])
    // No write was ever sent to a standby (it would fail with 25006, read_only_sql_transaction).
    expect(failures).not.toContain("25006")
    for (const reason of failures) expect(["Unavailable", "NotSent", "OutcomeUnknown"]).toContain(reason)
    // Reads go on, on the replica that stayed one.
    expect(outcome.read.some((r) => r.at > firstOnNew!.at && r.port === r1!.port)).toBe(true)
    // Stats and config name the new writer.
    expect(outcome.stats[0]!.host).toBe(label(r0!))
    expect(outcome.stats[0]!.role).toBe("writer")
    expect(outcome.config.port).toBe(r0!.port)
    expect(Redacted.value(outcome.config.url!)).toContain(`:${r0!.port}/`)
    // Durations name the server that ran each statement: every write that landed on the promoted
    // replica is counted under its port, though the writer's routing decision is the same object.
    const countOn = (port: number) =>
      outcome.metrics.filter((m) =>
        m.id === "db.client.operation.duration" && m.attributes?.["pgfleet.route"] === "writer" &&
        m.attributes?.["error.type"] === undefined && m.attributes?.["server.port"] === String(port)
      ).reduce((n, m) => n + (m.state as { count: number }).count, 0)
    const landedOn = (port: number) => outcome.written.filter((w) => w.port === port).length
    expect(countOn(r0!.port)).toBeGreaterThanOrEqual(landedOn(r0!.port))
    expect(countOn(c.writer.port)).toBeGreaterThanOrEqual(landedOn(c.writer.port))
  })

  it("two primaries at once: writes are refused with SplitBrain and land nowhere; a start against them fails", async () => {
    const c = cluster = await startCluster(1)
    const settings = settingsOf(c, { ...fast, writerHosts: [label(c.writer), label(c.readers[0]!)], readerHosts: [] })
    const attempts = await withFleet(
      settings,
      Effect.gen(function*() {
        const pg = yield* Postgres.Postgres
        const monitor = yield* HealthMonitor.HealthMonitor
        yield* pg.writer`CREATE TABLE split (id int)`
        yield* Effect.promise(() => c.waitForReplication())
        yield* Effect.promise(() => c.promoteReader(0))
        yield* eventually(Effect.sync(() => monitor.splitBrain() !== undefined), "split brain seen")
        return yield* Effect.forEach(
          Array.from({ length: 20 }, (_, i) => i),
          (i) => Effect.flip(pg.writer`INSERT INTO split VALUES (${i})`)
        )
      })
    )
    expect([...new Set(attempts.map(reasonOf))]).toEqual(["SplitBrain"])
    expect(attempts[0]!.message).toContain(label(c.writer))
    expect(attempts[0]!.message).toContain(label(c.readers[0]!))
    for (const member of ["writer", 0] as const) {
      const [row] = await c.query<{ n: number }>(member, "SELECT count(*)::int AS n FROM split")
      expect(row!.n).toBe(0)
    }
    // Starting against two primaries fails, naming both; pgfleet never guesses.
    const atStart = await Effect.runPromise(
      Effect.flip(Effect.scoped(Layer.build(Layer.fresh(Postgres.layer(settings)))))
    )
    expect(atStart).toBeInstanceOf(PostgresError.PostgresError)
    expect((atStart as PostgresError.PostgresError).reason).toBe("SplitBrain")
    expect(atStart.message).toContain(label(c.readers[0]!))
  })

  it("a COMMIT whose connection is killed is OutcomeUnknown; a write that found no connection is NotSent", async () => {
    const c = cluster = await startCluster(1)
    const commitError = await withFleet(
      settingsOf(c, { healthCheckInterval: "10 seconds" }),
      Effect.gen(function*() {
        const pg = yield* Postgres.Postgres
        // A deferred constraint trigger that sleeps makes COMMIT itself take 3 s.
        yield* pg.writer.unsafe(`CREATE TABLE slow_commit (id int)`)
        yield* pg.writer.unsafe(
          `CREATE FUNCTION sleepy() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(3); RETURN NULL; END $$`
        )
        yield* pg.writer.unsafe(`CREATE CONSTRAINT TRIGGER at_commit AFTER INSERT ON slow_commit
          DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION sleepy()`)
        const commit = yield* Effect.forkChild(
          Effect.flip(pg.writer.withTransaction(pg.writer`INSERT INTO slow_commit VALUES (1)`))
        )
        const committing = "SELECT count(*)::int AS n FROM pg_stat_activity WHERE query = 'COMMIT' AND state = 'active'"
        yield* eventually(
          Effect.promise(() => c.query<{ n: number }>("writer", committing)).pipe(Effect.map((r) => r[0]!.n === 1)),
          "COMMIT running"
        )
        yield* Effect.promise(() =>
          c.query(
            "writer",
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = 'COMMIT' AND state = 'active'"
          )
        )
        return yield* Fiber.join(commit)
      })
    )
    expect(reasonOf(commitError)).toBe("OutcomeUnknown")
    expect(commitError.message).toContain("COMMIT")

    const notSent = await withFleet(
      settingsOf(c, { healthCheckInterval: "10 seconds", minPoolSize: 1 }),
      Effect.gen(function*() {
        const pg = yield* Postgres.Postgres
        yield* Effect.promise(() => c.stopWriter("immediate"))
        // The pool's idle connections see their sockets close; then a write needs a new one, and is refused.
        yield* Effect.sleep("500 millis")
        return yield* Effect.flip(pg.writer`SELECT 1`).pipe(Effect.ensuring(Effect.promise(() => c.startWriter())))
      })
    )
    expect(reasonOf(notSent)).toBe("NotSent")
  })
})
