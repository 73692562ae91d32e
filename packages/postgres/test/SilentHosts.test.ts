import type { SqlError } from "@effect/sql/SqlError"
import { assert, describe, layer } from "@effect/vitest"
import { Fleet, HealthMonitor, Postgres, PostgresConfig, PostgresError } from "@pgfleet/postgres"
import { eventually, TcpProxy, TestCluster } from "@pgfleet/testing"
import { sql as dsql } from "drizzle-orm"
import { drizzle } from "drizzle-orm/node-postgres"
import { Duration, Effect, Either, Fiber, Option, Ref, Stream } from "effect"
import type { Scope } from "effect"
import * as fs from "node:fs"
import { connectionsNamed, fleet } from "./helpers.js"

/** One statement's run: when it started and ended, and how it failed (a PostgresError reason, else the message). */
interface Run {
  readonly start: number
  readonly end: number
  readonly failure: string | undefined
}

const reasonOf = (error: SqlError | PostgresError.PostgresError) => {
  const cause = error instanceof PostgresError.PostgresError ? error : error.cause
  if (cause instanceof PostgresError.PostgresError) return cause.reason
  return error.message.includes("was rolled back, nothing committed") ? "RolledBack" : error.message
}

/** `fibers` loops of `op` until `stop`, each run timed; a failed run pauses 20 ms, as a caller's backoff would. */
const timed = <E extends SqlError | PostgresError.PostgresError>(
  op: (n: number) => Effect.Effect<unknown, E>,
  fibers: number,
  stop: Ref.Ref<boolean>
) =>
  Effect.forEach(
    Array.from({ length: fibers }, (_, fiber) => fiber),
    (fiber) =>
      Effect.gen(function*() {
        const runs: Array<Run> = []
        for (let n = 0; !(yield* Ref.get(stop)); n++) {
          const start = Date.now()
          const result = yield* Effect.either(op(fiber * 1_000_000 + n))
          runs.push({ start, end: Date.now(), failure: Either.isLeft(result) ? reasonOf(result.left) : undefined })
          if (Either.isLeft(result)) yield* Effect.sleep("20 millis")
        }
        return runs
      }),
    { concurrency: "unbounded" }
  ).pipe(Effect.map((all) => all.flat().sort((a, b) => a.start - b.start)))

const longest = (runs: ReadonlyArray<Run>) => runs.reduce((max, r) => Math.max(max, r.end - r.start), 0)

/** The bound of the issue: no statement waits longer than the detection time plus 1 s. */
const boundOf = (settings: PostgresConfig.PostgresSettings) =>
  Duration.toMillis(HealthMonitor.detectionTime(settings)) + 1000

interface Outcome {
  readonly writes: ReadonlyArray<Run>
  readonly reads: ReadonlyArray<Run>
  readonly downAt: number
  readonly healedAt: number
  readonly bound: number
  readonly interval: number
}

/**
 * Writers and readers run while `fault` holds a host silent for `ms`; the
 * fault's scope ends it. Default settings, as a new user has them.
 */
const underFault = (options: {
  readonly host: (pg: Postgres.Service) => string
  readonly fault: Effect.Effect<void, unknown, Scope.Scope | TestCluster.Cluster>
  readonly ms: number
  readonly write: (pg: Postgres.Service, id: number) => Effect.Effect<unknown, SqlError>
  readonly writers: number
  readonly readers: number
}) =>
  Effect.gen(function*() {
    const pg = yield* Postgres.Postgres
    const monitor = yield* HealthMonitor.HealthMonitor
    const settings = yield* PostgresConfig.PostgresConfig
    const host = options.host(pg)
    const stop = yield* Ref.make(false)
    const writes = yield* Effect.fork(timed((id) => options.write(pg, id), options.writers, stop))
    const reads = yield* Effect.fork(timed(() => pg.reader`SELECT 1`, options.readers, stop))
    yield* Effect.sleep("1 second")
    let downAt = 0
    const healedAt = yield* Effect.scoped(Effect.gen(function*() {
      yield* options.fault
      yield* eventually(Effect.sync(() => monitor.health(host).state === "down"), `${host} marked down`, 300)
      downAt = Date.now()
      yield* Effect.sleep(Duration.millis(options.ms))
    })).pipe(Effect.zipRight(Effect.sync(() => Date.now())))
    yield* eventually(Effect.sync(() => monitor.health(host).state === "healthy"), `${host} healthy again`, 300)
    yield* Effect.sleep("1 second")
    yield* Ref.set(stop, true)
    return {
      writes: yield* Fiber.join(writes),
      reads: yield* Fiber.join(reads),
      downAt,
      healedAt,
      bound: boundOf(settings),
      interval: Duration.toMillis(settings.healthCheckInterval)
    } satisfies Outcome
  })

/** What every scenario must show. */
const assertBounded = (outcome: Outcome, writesFailIn: ReadonlyArray<string>) => {
  const { bound, downAt, healedAt, interval, reads, writes } = outcome
  assert.isAtMost(longest(writes), bound, "no write waits past the detection time + 1 s")
  assert.isAtMost(longest(reads), bound, "no read waits past the detection time + 1 s")
  assert.deepStrictEqual(reads.filter((r) => r.failure !== undefined), [], "0 failed reads")
  // Between detection and the end of the fault, writes fail fast, and only as the issue says.
  const duringFault = writes.filter((w) => w.start > downAt + 100 && w.end < healedAt)
  assert.isAbove(duringFault.length, 10)
  for (const w of duringFault) assert.strictEqual(w.failure, "Unavailable")
  const failures = new Set(writes.flatMap((w) => w.failure === undefined ? [] : [w.failure]))
  for (const f of failures) assert.include(writesFailIn, f)
  // Writes resume within one probe interval (plus one probe and a write) after the host answers.
  const resumed = writes.find((w) => w.start >= healedAt && w.failure === undefined)
  assert.isDefined(resumed, "writes resumed")
  assert.isAtMost(resumed!.end - healedAt, interval + 1000)
}

/** Rows written more than once: none may be. */
const duplicates = (pg: Postgres.Service, table: string) =>
  Effect.map(
    pg.writer.unsafe<{ id: number }>(`SELECT id FROM ${table} GROUP BY id HAVING count(*) > 1`),
    (rows) => rows.length
  )

const label = (h: { host: string; port: number }) => `${h.host}:${h.port}`

/** The scenario's fleet, under an application name of its own, closed before its connections are counted. */
const withFleet = <A, E, R>(
  name: string,
  settings: Parameters<typeof fleet>[0],
  body: Effect.Effect<A, E, R>
) =>
  Effect.gen(function*() {
    const cluster = yield* TestCluster.Cluster
    const result = yield* body.pipe(Effect.provide(fleet({ ...settings, applicationName: name })))
    yield* eventually(Effect.map(connectionsNamed(cluster, name), (n) => n === 0), `0 connections named ${name}`)
    return result
  })

describe("silent hosts", () => {
  layer(TestCluster.layer({ replicas: 2 }), { excludeTestServices: true, timeout: "120 seconds" })((it) => {
    it.scoped("a blackholed writer: writes in flight end at detection, new ones fail fast, then resume", () =>
      Effect.gen(function*() {
        const cluster = yield* TestCluster.Cluster
        yield* cluster.query("writer", "CREATE TABLE holed (id int NOT NULL)")
        yield* cluster.waitForReplication()
        const proxy = yield* TcpProxy.make(cluster.writer)
        const outcome = yield* withFleet(
          "silent-writer",
          { writerHosts: [label(proxy)] },
          Effect.gen(function*() {
            const outcome = yield* underFault({
              host: (pg) => pg.writer.config.host + ":" + pg.writer.config.port,
              fault: Effect.acquireRelease(proxy.setMode("blackhole"), () => proxy.setMode("forward")),
              ms: 20_000,
              // A write that holds its connection a while, so the partition finds some in flight.
              write: (pg, id) => pg.writer`INSERT INTO holed SELECT ${id} FROM pg_sleep(0.05)`,
              writers: 4,
              readers: 2
            })
            assert.strictEqual(yield* duplicates(yield* Postgres.Postgres, "holed"), 0)
            return outcome
          })
        )
        assertBounded(outcome, ["Unavailable", "OutcomeUnknown", "NotSent"])
        assert.isTrue(outcome.writes.some((w) => w.failure === "OutcomeUnknown"), "writes in flight were ended")
      }))

    it.effect("a frozen writer: transactions in flight end at detection; nothing commits twice", () =>
      Effect.gen(function*() {
        const cluster = yield* TestCluster.Cluster
        yield* cluster.query("writer", "CREATE TABLE frozen_tx (id int NOT NULL)")
        yield* cluster.waitForReplication()
        const outcome = yield* withFleet(
          "frozen-writer",
          {},
          Effect.gen(function*() {
            const outcome = yield* underFault({
              host: (pg) => pg.writer.config.host + ":" + pg.writer.config.port,
              fault: cluster.freezeWriter(),
              ms: 15_000,
              write: (pg, id) =>
                pg.writer.withTransaction(Effect.gen(function*() {
                  yield* pg.writer`INSERT INTO frozen_tx VALUES (${id})`
                  yield* pg.writer`SELECT pg_sleep(0.05)`
                  yield* pg.writer`INSERT INTO frozen_tx VALUES (${-id - 1})`
                })),
              writers: 4,
              readers: 2
            })
            const pg = yield* Postgres.Postgres
            assert.strictEqual(yield* duplicates(pg, "frozen_tx"), 0)
            // A transaction committed whole or not at all.
            const halves = yield* pg.writer<{ n: number }>`
              SELECT count(*)::int AS n FROM frozen_tx a
              WHERE a.id >= 0 AND NOT EXISTS (SELECT 1 FROM frozen_tx b WHERE b.id = -a.id - 1)`
            assert.strictEqual(halves[0]!.n, 0)
            return outcome
          })
        )
        // A statement inside a transaction fails as rolled back when its connection drops; a COMMIT's outcome is unknown.
        assertBounded(outcome, ["Unavailable", "OutcomeUnknown", "NotSent", "RolledBack"])
      }))

    it.effect("a frozen replica: 16 readers lose no read and none waits past detection", () =>
      Effect.gen(function*() {
        const cluster = yield* TestCluster.Cluster
        yield* cluster.query("writer", "CREATE TABLE frozen_reads (id int NOT NULL)")
        yield* cluster.waitForReplication()
        const outcome = yield* withFleet(
          "frozen-replica",
          {},
          Effect.gen(function*() {
            const pg = yield* Postgres.Postgres
            const monitor = yield* HealthMonitor.HealthMonitor
            const settings = yield* PostgresConfig.PostgresConfig
            const host = label(cluster.readers[0]!)
            const stop = yield* Ref.make(false)
            const reads = yield* Effect.fork(timed(() => pg.reader`SELECT 1`, 16, stop))
            const writes = yield* Effect.fork(
              timed((id) => pg.writer`INSERT INTO frozen_reads VALUES (${id})`, 1, stop)
            )
            yield* Effect.sleep("1 second")
            yield* Effect.scoped(Effect.gen(function*() {
              yield* cluster.freezeReader(0)
              yield* eventually(Effect.sync(() => monitor.health(host).state === "down"), `${host} down`, 300)
              yield* Effect.sleep("15 seconds")
            }))
            yield* eventually(Effect.sync(() => monitor.health(host).state === "healthy"), `${host} healthy`, 300)
            yield* Ref.set(stop, true)
            return {
              reads: yield* Fiber.join(reads),
              writes: yield* Fiber.join(writes),
              bound: boundOf(settings),
              duplicates: yield* duplicates(pg, "frozen_reads")
            }
          })
        )
        assert.deepStrictEqual(outcome.reads.filter((r) => r.failure !== undefined), [], "0 failed reads")
        assert.isAbove(outcome.reads.length, 1000)
        assert.isAtMost(longest(outcome.reads), outcome.bound)
        assert.deepStrictEqual(outcome.writes.filter((w) => w.failure !== undefined), [])
        assert.strictEqual(outcome.duplicates, 0)
      }))

    it.effect("a frozen writer ends reserve, streams, auto, pinned pg clients; listen reconnects", () =>
      Effect.gen(function*() {
        const cluster = yield* TestCluster.Cluster
        const name = "frozen-paths"
        yield* cluster.query("writer", "CREATE TABLE frozen_paths (id int)")
        const outcome = yield* Effect.gen(function*() {
          const pg = yield* Postgres.Postgres
          const settings = yield* PostgresConfig.PostgresConfig
          const fleetPools = yield* Effect.promise(() =>
            Fleet.createFleet({ ...cluster.env, DB_APPLICATION_NAME: name })
          )
          const notified = yield* Effect.fork(
            pg.writer.listen("frozen_paths").pipe(Stream.take(1), Stream.runCollect)
          )
          // Each runs far longer than the test; only detection can end it.
          const long = "SELECT pg_sleep(60)"
          const timedEither = <A, E>(effect: Effect.Effect<A, E>) =>
            Effect.map(Effect.timed(Effect.either(effect)), ([took, result]) => ({
              ms: Duration.toMillis(took),
              failed: Either.isLeft(result)
            }))
          const client = yield* Effect.promise(() => fleetPools.writerPool.connect())
          const clientError = Effect.async<string>((resume) => {
            client.once("error", (e) => resume(Effect.succeed(e.message)))
          })
          const paths = yield* Effect.fork(Effect.all({
            reserve: timedEither(Effect.scoped(Effect.flatMap(pg.writer.reserve, (c) => c.executeRaw(long, [])))),
            stream: timedEither(Stream.runDrain(pg.writer.unsafe(long).stream)),
            auto: timedEither(pg.auto`INSERT INTO frozen_paths SELECT 1 FROM pg_sleep(60)`),
            transaction: timedEither(pg.writer.withTransaction(pg.writer.unsafe(long))),
            pinned: timedEither(Effect.tryPromise(() => client.query(long))),
            pinnedError: Effect.timed(clientError).pipe(Effect.map(([took]) => ({ ms: Duration.toMillis(took) })))
          }, { concurrency: "unbounded" }))
          yield* Effect.sleep("500 millis")
          yield* Effect.scoped(Effect.zipRight(cluster.freezeWriter(), Effect.sleep("8 seconds")))
          const ended = yield* Fiber.join(paths)
          client.release(true)
          yield* Effect.promise(() => fleetPools.close())
          // listen reconnected after the thaw: a notification sent now arrives.
          const monitor = yield* HealthMonitor.HealthMonitor
          yield* eventually(
            Effect.sync(() => monitor.health(pg.writer.config.host + ":" + pg.writer.config.port).state === "healthy")
          )
          yield* eventually(
            Effect.gen(function*() {
              yield* pg.writer.notify("frozen_paths", "after")
              return Option.isSome(yield* Fiber.poll(notified))
            }),
            "listen delivered after the thaw"
          )
          return { ended, bound: boundOf(settings) + 500, delivered: yield* Fiber.join(notified) }
        }).pipe(Effect.provide(fleet({ applicationName: name })))
        for (const [path, run] of Object.entries(outcome.ended)) {
          assert.isAtMost(run.ms, outcome.bound, `${path} ended by detection`)
          if ("failed" in run) assert.isTrue(run.failed, `${path} failed`)
        }
        assert.deepStrictEqual([...outcome.delivered], ["after"])
        yield* eventually(Effect.map(connectionsNamed(cluster, name), (n) => n === 0), `0 connections named ${name}`)
      }))

    it.effect("drizzle over writerPool: a frozen writer holds no write past detection", () =>
      Effect.gen(function*() {
        const cluster = yield* TestCluster.Cluster
        yield* cluster.query("writer", "CREATE TABLE drizzle_frozen (id int NOT NULL)")
        const name = "drizzle-frozen"
        // The defaults, as createFleet has them for this environment.
        const detection = boundOf(
          yield* PostgresConfig.make({ writerHosts: [label(cluster.writer)], username: "u", password: "p" })
        )
        const { runs, healedAt } = yield* Effect.promise(async () => {
          const fleet = await Fleet.createFleet({ ...cluster.env, DB_APPLICATION_NAME: name })
          const db = drizzle(fleet.writerPool)
          const runs: Array<Run> = []
          let stopped = false
          let healedAt = 0
          try {
            const writers = Array.from({ length: 4 }, async (_, w) => {
              for (let n = 0; !stopped; n++) {
                const start = Date.now()
                try {
                  await db.execute(dsql`INSERT INTO drizzle_frozen SELECT ${w * 1_000_000 + n} FROM pg_sleep(0.05)`)
                  runs.push({ start, end: Date.now(), failure: undefined })
                } catch (error) {
                  // drizzle wraps the pool's error in its own.
                  const cause = (error as { cause?: unknown }).cause
                  runs.push({ start, end: Date.now(), failure: reasonOf(cause as PostgresError.PostgresError) })
                  await new Promise((r) => setTimeout(r, 20))
                }
              }
            })
            await new Promise((r) => setTimeout(r, 1000))
            await Effect.runPromise(
              cluster.freezeWriter().pipe(Effect.zipRight(Effect.sleep("15 seconds")), Effect.scoped)
            )
            healedAt = Date.now()
            await new Promise((r) => setTimeout(r, 3000))
            stopped = true
            await Promise.all(writers)
            return { runs, healedAt }
          } finally {
            stopped = true
            await fleet.close()
          }
        })
        assert.isAtMost(longest(runs), detection)
        assert.isTrue(runs.some((r) => r.failure === "Unavailable"))
        assert.isTrue(runs.some((r) => r.start > healedAt && r.failure === undefined), "writes resumed")
        yield* eventually(Effect.map(connectionsNamed(cluster, name), (n) => n === 0), `0 connections named ${name}`)
      }))
  })
})

/**
 * Our process's TCP connections to `port` and their timers, from `/proc/net/tcp`: `timer` 2 is keepalive,
 * `seconds` the time left on it.
 */
const socketsTo = (port: number) => {
  const ours = new Set(
    fs.readdirSync("/proc/self/fd").flatMap((fd) => {
      try {
        return [fs.readlinkSync(`/proc/self/fd/${fd}`)]
      } catch {
        return []
      }
    })
  )
  return fs.readFileSync("/proc/net/tcp", "utf8").split("\n").slice(1).flatMap((line) => {
    const f = line.trim().split(/\s+/)
    if (f.length < 10 || parseInt(f[2]!.split(":")[1]!, 16) !== port || !ours.has(`socket:[${f[9]}]`)) return []
    const [timer, when] = f[5]!.split(":")
    // The kernel counts in clock ticks, 100 a second.
    return [{ timer: parseInt(timer!, 16), seconds: parseInt(when!, 16) / 100 }]
  })
}

describe("dead peers found without a probe", () => {
  layer(TestCluster.layer({ replicas: 0 }), { excludeTestServices: true, timeout: "60 seconds" })((it) => {
    it.effect("every connection has TCP keepalive armed after DB_TCP_KEEPALIVE_IDLE_SECONDS", () =>
      Effect.gen(function*() {
        const cluster = yield* TestCluster.Cluster
        const sockets = yield* Effect.gen(function*() {
          const pg = yield* Postgres.Postgres
          yield* pg.writer`SELECT 1`
          return socketsTo(cluster.writer.port)
        }).pipe(Effect.provide(fleet({ applicationName: "keepalive", keepAliveIdle: "7 seconds", minPoolSize: 2 })))
        // The pool's two, the probe's, and the listen connection's: each with the keepalive timer set from 7 s.
        assert.isAtLeast(sockets.length, 3)
        // Without our setting the first keepalive probe would wait the OS's 2 hours.
        for (const socket of sockets) {
          assert.strictEqual(socket.timer, 2, "keepalive timer armed")
          assert.isAtMost(socket.seconds, 7)
        }
      }))

    it.effect("DB_POOL_MAX_LIFETIME_SECONDS replaces every pooled connection once it is that old", () =>
      Effect.gen(function*() {
        const cluster = yield* TestCluster.Cluster
        const name = "max-lifetime"
        const backends = Effect.map(
          cluster.query<{ pid: number }>("writer", "SELECT pid FROM pg_stat_activity WHERE application_name = $1", [
            name
          ]),
          (rows) => new Set(rows.map((r) => r.pid))
        )
        const [before, after] = yield* Effect.gen(function*() {
          const pg = yield* Postgres.Postgres
          const pids = Effect.forEach(
            Array.from({ length: 8 }),
            () => pg.writer<{ pid: number }>`SELECT pg_backend_pid() AS pid`,
            {
              concurrency: 4
            }
          ).pipe(Effect.map((rows) => new Set(rows.map((r) => r[0]!.pid))))
          const before = yield* pids
          yield* Effect.sleep("2500 millis")
          const after = yield* pids
          // The first ones are gone from the server too.
          const left = yield* backends
          for (const pid of before) assert.isFalse(left.has(pid), `backend ${pid} outlived its lifetime`)
          return [before, after]
        }).pipe(Effect.provide(fleet({ applicationName: name, maxLifetime: "1 second" })))
        assert.isAbove(before.size, 0)
        for (const pid of after) assert.isFalse(before.has(pid), `connection ${pid} was reused past its lifetime`)
      }))
  })
})
