/**
 * `pnpm start`: a tour of pgfleet, end to end, on an embedded cluster (or on
 * the `DB_*` environment when `DB_WRITER_HOST` is set).
 */
import { NodeRuntime } from "@effect/platform-node"
import type { HostPool } from "@pgfleet/postgres"
import { HealthMonitor, Postgres, PostgresMetrics, ReaderPools, WriterPool } from "@pgfleet/postgres"
import { TestCluster, untilStopped } from "@pgfleet/testing"
import { Console, Duration, Effect, Fiber, Metric, Option, Ref, Schedule } from "effect"
import * as Fleet from "./Fleet.js"
import { ms, table } from "./table.js"

const STEPS = 8
const step = (n: number, title: string) => Console.log(`\n[${n}/${STEPS}] ${title}`)

/** Reads routed to `host` so far, over every route. */
const routedTo = (host: string) =>
  Effect.forEach(
    ["strategy", "fallback", "no-readers", "retry"],
    (route) => Metric.value(PostgresMetrics.readsRoutedTo(host, route))
  ).pipe(Effect.map((states) => states.reduce((n, s) => n + s.count, 0)))

const readsPerHost = (pools: ReadonlyArray<HostPool.HostPool>) =>
  Effect.forEach(pools, (p) => Effect.map(routedTo(p.host), (n) => [p.host, n] as const))

/** Polls every 5 ms and records when the count of reads routed to `host` last changed. */
const watchRouting = (host: string, changedAt: Ref.Ref<number>) =>
  Effect.gen(function*() {
    let last = yield* routedTo(host)
    while (true) {
      yield* Effect.sleep("5 millis")
      const now = yield* routedTo(host)
      if (now !== last) yield* Ref.set(changedAt, Date.now())
      last = now
    }
  })

const tour = Effect.gen(function*() {
  const pg = yield* Postgres.Postgres
  const writer = yield* WriterPool.WriterPool
  const readers = yield* ReaderPools.ReaderPools
  const monitor = yield* HealthMonitor.HealthMonitor
  const cluster = yield* Effect.serviceOption(TestCluster.Cluster)
  const all = [writer, ...readers]

  yield* step(1, "Fleet warm-up: every pool opened, warmed and role-checked at the same time")
  yield* Console.log(table(
    ["host", "role", "connections", "warm-up"],
    all.map((p) => [p.host, p.role, p.counts().total, ms(Duration.toMillis(p.warmupTime))])
  ))

  yield* step(2, "Schema and writes through the writer")
  yield* pg.writer`CREATE TABLE IF NOT EXISTS tour_items (id int PRIMARY KEY, name text NOT NULL)`
  yield* pg.writer`TRUNCATE tour_items`
  yield* pg.writer`INSERT INTO tour_items SELECT g, 'item ' || g FROM generate_series(1, 1000) AS g`
  const [count] = yield* pg.writer<{ n: number }>`SELECT count(*)::int AS n FROM tour_items`
  yield* Console.log(`  wrote ${count!.n} rows on ${writer.host}`)
  // Read-your-writes: reads below go only to replicas whose probes have seen this position (or to the writer).
  const position = yield* pg.writerPosition
  const written = Date.now()
  const target = HealthMonitor.parseLsn(position)
  const caughtUp = yield* Effect.repeat(
    Effect.sync(() => readers.every((r) => (monitor.health(r.host).walLsn ?? -1n) >= target)),
    { schedule: Schedule.spaced("20 millis"), until: (ok) => ok }
  ).pipe(Effect.timeout("10 seconds"), Effect.option)
  yield* Console.log(
    Option.isSome(caughtUp)
      ? `  health probes saw every replica replay the writes (WAL ${position}) ${ms(Date.now() - written)} later`
      : `  not every replica had replayed WAL ${position} after 10 s: those reads go to the writer`
  )

  yield* step(3, "Routed reads: 300 primary-key lookups through pg.reader, reading after that position")
  const before = yield* readsPerHost(all)
  yield* pg.readingAfter(position)(Effect.forEach(
    Array.from({ length: 300 }, (_, i) => i + 1),
    (id) => pg.reader`SELECT name FROM tour_items WHERE id = ${id}`,
    { concurrency: 8, discard: true }
  ))
  const after = yield* readsPerHost(all)
  yield* Console.log(
    table(["host", "role", "reads"], all.map((p, i) => [p.host, p.role, after[i]![1] - before[i]![1]]))
  )

  if (Option.isNone(cluster)) {
    yield* step(4, "A replica stopped under load: skipped, it needs the embedded cluster")
    yield* step(5, "The replica restarted: skipped, it needs the embedded cluster")
  } else {
    const victim = readers[0]!
    const survivor = readers[1]!
    yield* step(4, `A replica stopped under load: 32 readers for 4 s; ${victim.host} is killed after 1 s`)
    const stop = yield* Ref.make(false)
    const lastRouted = yield* Ref.make(0)
    const watcher = yield* Effect.fork(watchRouting(victim.host, lastRouted))
    const load = yield* Effect.fork(untilStopped(pg.reader`SELECT name FROM tour_items WHERE id = 1`, 32, stop))
    const rows: Array<Array<string | number>> = []
    let previous = yield* readsPerHost(readers)
    let killedAt = 0
    for (let second = 1; second <= 4; second++) {
      if (second === 2) {
        killedAt = Date.now()
        yield* cluster.value.stopReader(0, "immediate")
      }
      yield* Effect.sleep("1 second")
      const now = yield* readsPerHost(readers)
      rows.push([
        `${second - 1}-${second} s`,
        ...now.map(([, n], i) => n - previous[i]![1]),
        monitor.health(victim.host).state
      ])
      previous = now
    }
    yield* Ref.set(stop, true)
    const { failed, runs: reads } = yield* Fiber.join(load)
    yield* Fiber.interrupt(watcher)
    yield* Console.log(table(["interval", ...readers.map((r) => `reads on ${r.host}`), `${victim.host} health`], rows))
    yield* Console.log(`  ${reads} reads, ${failed} failed`)
    yield* Console.log(
      `  last read routed to ${victim.host}: ${ms((yield* Ref.get(lastRouted)) - killedAt)} after it was killed`
    )

    yield* step(5, `The replica restarted: ${victim.host} serves reads again`)
    const restartedAt = Date.now()
    const firstRouted = yield* Ref.make(0)
    const watcher2 = yield* Effect.fork(watchRouting(victim.host, firstRouted))
    yield* cluster.value.startReader(0)
    const started = Date.now()
    const light = yield* Ref.make(false)
    const lightLoad = yield* Effect.fork(untilStopped(pg.reader`SELECT name FROM tour_items WHERE id = 2`, 4, light))
    yield* Effect.repeat(Ref.get(firstRouted), { schedule: Schedule.spaced("10 millis"), until: (t) => t > 0 }).pipe(
      Effect.timeout("20 seconds"),
      Effect.option
    )
    yield* Ref.set(light, true)
    yield* Fiber.join(lightLoad)
    yield* Fiber.interrupt(watcher2)
    const first = yield* Ref.get(firstRouted)
    yield* Console.log(
      `  server up in ${ms(started - restartedAt)}; first read routed to it ${ms(first - started)} after that`
    )
    const mix = yield* readsPerHost([victim, survivor])
    yield* Console.log(table(["host", "reads so far"], mix.map(([h, n]) => [h, n])))
  }

  if (Option.isNone(cluster)) {
    yield* step(6, "Primary failover: skipped, it needs the embedded cluster")
  } else {
    const from = writer.host
    yield* step(6, `Primary failover: ${from} is stopped and ${readers[0]!.host} promoted; writes follow`)
    const stoppedAt = Date.now()
    yield* cluster.value.stopWriter("fast")
    yield* cluster.value.promoteReader(0)
    // The other replica follows the new primary.
    yield* cluster.value.followWriter(1, 0)
    const failed = new Map<string, number>()
    const [landed] = yield* pg.writer<{ port: number }>`
      INSERT INTO tour_items VALUES (1001, 'after failover') ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name
      RETURNING current_setting('port')::int AS port`.pipe(
      Effect.tapError((e) =>
        Effect.sync(() => {
          const reason = (e.cause as { reason?: string })?.reason ?? "other"
          failed.set(reason, (failed.get(reason) ?? 0) + 1)
        })
      ),
      Effect.retry(Schedule.spaced("20 millis").pipe(Schedule.upTo("30 seconds")))
    )
    yield* Console.log(table(
      ["writer before", "writer now", "write landed on port", "stop to first write", "failed tries (kind)"],
      [[
        from,
        writer.host,
        landed!.port,
        ms(Date.now() - stoppedAt),
        [...failed].map(([k, n]) => `${n} ${k}`).join(", ") || "none"
      ]]
    ))
  }

  yield* step(7, "Fleet stats")
  const stats = yield* pg.stats
  yield* Console.log(table(
    ["host", "role", "health", "lag bytes", "lag s", "total", "idle", "in use", "waiting"],
    stats.map((s) => [
      s.host,
      s.role + (s.roleMismatch ? ` (now ${s.observedRole})` : ""),
      s.health,
      s.lagBytes ?? "-",
      s.lagSeconds === undefined ? "-" : s.lagSeconds.toFixed(3),
      s.total,
      s.idle,
      s.inUse,
      s.waiting
    ])
  ))
  yield* step(
    8,
    "Clean shutdown: closing every pool" + (Option.isSome(cluster) ? " and stopping the embedded cluster" : "")
  )
})

const main = Effect.gen(function*() {
  const started = Date.now()
  yield* tour.pipe(
    Effect.provide(Fleet.layer({
      minPoolSize: 4,
      maxPoolSize: 8,
      healthCheckInterval: "250 millis",
      healthCheckTimeout: "500 millis"
    }))
  )
  yield* Console.log(`  done: every pool closed; the tour took ${ms(Date.now() - started)}`)
})

NodeRuntime.runMain(main)
