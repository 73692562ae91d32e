/**
 * `pnpm bench`: pgfleet against its peers on one embedded cluster (a writer,
 * 2 streaming replicas), pool size 8 per host, 32 concurrent readers.
 * `--smoke` runs a 2-second version for CI: it checks that the bench runs,
 * and asserts nothing about speed. `--writer-failover` runs only the primary
 * failover measurement, `--writer-freeze` only the frozen writer's timeline, `--installed`
 * the `pg.Pool` adapter from the packed tarballs under plain node (scripts/bench-installed.mjs).
 */
import { Postgres } from "@pgfleet/postgres"
import type * as PgFleet from "@pgfleet/postgres"
import { startTestCluster } from "@pgfleet/testing"
import type { TestCluster } from "@pgfleet/testing"
import { Cause, Context, Effect, Layer, ManagedRuntime } from "effect"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as Charts from "./charts.js"
import * as Contenders from "./contenders.js"
import * as Effect4 from "./effect4.js"
import * as Installed from "./installed.js"
import { type Figures, figures, median, promiseLoad } from "./measure.js"

const smoke = process.argv.includes("--smoke")
const ROUNDS = smoke ? 1 : 7
const SECONDS = smoke ? 0.1 : 2
const CONCURRENCY = 32
const here = path.dirname(fileURLToPath(import.meta.url))
const resultsFile = path.join(here, "../../../bench-results", smoke ? "smoke.tmp.json" : "latest.json")

const log = (line: string) => console.log(line)
const fmt = (n: number, digits = 0) => Number.isFinite(n) ? n.toFixed(digits) : "-"

const seed = async (cluster: TestCluster.TestClusterPromise) => {
  await cluster.query("writer", "CREATE TABLE kv (id int PRIMARY KEY, v text NOT NULL)")
  await cluster.query(
    "writer",
    `INSERT INTO kv SELECT g, md5(g::text) FROM generate_series(1, ${Contenders.ROWS}) AS g`
  )
  await cluster.query("writer", "ANALYZE kv")
  await cluster.waitForReplication()
}

/**
 * Alternates the contenders (A B C ... A B C ...) and keeps each run's figures, with the client
 * process's CPU time per statement (the servers run in processes of their own).
 */
const throughput = async (scenario: string, contenders: ReadonlyArray<Contenders.Contender>) => {
  const runs = new Map<string, Array<Figures & { cpuUsPerOp: number }>>()
  for (let round = 1; round <= ROUNDS; round++) {
    for (const workload of Contenders.workloads) {
      for (const c of contenders) {
        const cpu = process.cpuUsage()
        const result = await c.load(workload, CONCURRENCY, SECONDS * 1000)
        const used = process.cpuUsage(cpu)
        const f = { ...figures(result), cpuUsPerOp: (used.user + used.system) / Math.max(1, result.ops) }
        const key = `${c.name}|${workload}`
        runs.set(key, [...(runs.get(key) ?? []), f])
        log(
          `  ${scenario}  round ${round}/${ROUNDS}  ${workload.padEnd(9)}  ${c.name.padEnd(42)} ${
            fmt(f.readsPerSecond).padStart(7)
          } reads/s ${fmt(f.cpuUsPerOp, 1).padStart(6)} CPU µs/statement`
        )
      }
    }
  }
  return [...runs].map(([key, fs]) => {
    const [name, workload] = key.split("|") as [string, Contenders.Workload]
    return {
      scenario,
      name,
      workload,
      readsPerSecond: median(fs.map((f) => f.readsPerSecond)),
      cpuUsPerOp: median(fs.map((f) => f.cpuUsPerOp)),
      p50Ms: median(fs.map((f) => f.p50Ms)),
      p99Ms: median(fs.map((f) => f.p99Ms)),
      failed: fs.reduce((a, f) => a + f.failed, 0),
      runs: fs.length
    }
  })
}

/** Opens a scenario's contenders, runs them alternated, and closes them. */
const scenario = async (
  name: string,
  cluster: TestCluster.TestClusterPromise,
  replicas: Contenders.Replicas,
  makers: ReadonlyArray<(c: TestCluster.TestClusterPromise, r: Contenders.Replicas) => Promise<Contenders.Contender>>
) => {
  log(`${name}: opening every contender's pools ...`)
  const contenders: Array<Contenders.Contender> = []
  for (const make of makers) contenders.push(await make(cluster, replicas))
  try {
    return await throughput(name, contenders)
  } finally {
    await Promise.all(contenders.map((c) => c.close()))
  }
}

/** Time to build a pgfleet layer (open, warm with 10 connections a host, role-check, first probes forked). */
const warmup = async (cluster: TestCluster.TestClusterPromise, readers: boolean) => {
  const settings = Contenders.fleetSettings(cluster, {
    minPoolSize: 10,
    maxPoolSize: 10,
    ...(readers ? {} : { readerHosts: [] })
  })
  const started = performance.now()
  await Effect.runPromise(
    Effect.scoped(
      Effect.flatMap(Layer.build(Postgres.layer(settings)), () => Effect.sync(() => performance.now() - started))
    )
  )
  return performance.now() - started
}

/** When the replica stop happens and how long the load runs; `--smoke` shrinks both. */
const STOP_AT_MS = smoke ? 400 : 1000
const STOP_LOAD_MS = smoke ? 1200 : 3000
const BUCKET_MS = 100

/** Reads and failures per 100 ms while reader 0 is stopped (immediate) `STOP_AT_MS` into the load. */
const failover = async (
  cluster: TestCluster.TestClusterPromise,
  name: string,
  op: () => Promise<unknown>
): Promise<Charts.ReplicaStop> => {
  const buckets = Array.from({ length: STOP_LOAD_MS / BUCKET_MS }, () => ({ ok: 0, failed: 0 }))
  const last = buckets.length - 1
  const started = performance.now()
  const stopper = new Promise<void>((resolve, reject) =>
    setTimeout(() => cluster.stopReader(0, "immediate").then(resolve, reject), STOP_AT_MS)
  )
  await promiseLoad(
    async () => {
      try {
        await op()
        buckets[Math.min(last, Math.floor((performance.now() - started) / BUCKET_MS))]!.ok++
      } catch (e) {
        buckets[Math.min(last, Math.floor((performance.now() - started) / BUCKET_MS))]!.failed++
        throw e
      }
    },
    CONCURRENCY,
    STOP_LOAD_MS
  )
  await stopper
  await cluster.startReader(0)
  await cluster.waitForReplication()
  return { name, bucketMs: BUCKET_MS, stopAtMs: STOP_AT_MS, buckets }
}

/** The replica-stop run of raw pg, drizzle's `withReplicas` and pgfleet (and, in full runs, drizzle over pgfleet). */
const replicaStops = async (cluster: TestCluster.TestClusterPromise) => {
  const runs: Array<Charts.ReplicaStop> = []
  const makers = [
    () => Contenders.rawPg(cluster, cluster.readers),
    () => Contenders.drizzleReplicas(cluster, cluster.readers),
    () => Contenders.pgfleet(cluster, cluster.readers, "random", "dist"),
    ...(smoke ? [] : [() => Contenders.fleetReaderPool(cluster, cluster.readers, "drizzle")])
  ]
  for (const make of makers) {
    const c = await make()
    runs.push(await failover(cluster, c.name, () => c.runOne()))
    await c.close()
  }
  return runs
}

const peakRss = (index: number, cluster: TestCluster.TestClusterPromise) => {
  const out = execFileSync(process.execPath, ["--import", "tsx", path.join(here, "rss.ts"), String(index)], {
    env: { ...process.env, BENCH_CLUSTER: JSON.stringify(cluster) },
    encoding: "utf8"
  })
  return JSON.parse(out.trim().split("\n").pop()!) as { name: string; maxRssMiB: number }
}

/** The parser's memory and uncached cost, in a fresh child process (the parser loads when imported). */
const parserCost = () => {
  const out = execFileSync(process.execPath, ["--expose-gc", "--import", "tsx", path.join(here, "classifier.ts")], {
    encoding: "utf8"
  })
  return JSON.parse(out.trim().split("\n").pop()!) as {
    statements: number
    uncachedCpuUsPerStatement: number
    memory: Record<"before" | "loaded" | "after", { rssMiB: number; heapMiB: number; externalMiB: number }>
  }
}

/** `pg.auto`'s classification through the service: uncached (parse, cache) and cached (an LRU hit), CPU µs each. */
const classificationCost = async (cluster: TestCluster.TestClusterPromise) => {
  const { Postgres: Fleet, StatementClassifier } = (await import(
    new URL("../../postgres/dist/index.js", import.meta.url).href
  )) as typeof PgFleet
  const texts = Array.from({ length: 5000 }, (_, i) => `SELECT id, v FROM kv WHERE id = $1 AND v <> 'x${i}'`)
  return Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const context = yield* Layer.build(Fleet.layer(Contenders.fleetSettings(cluster)))
    const classifier = Context.get(context, StatementClassifier.StatementClassifier)
    let cpu = process.cpuUsage()
    for (const text of texts) yield* classifier.classify(text)
    const uncached = process.cpuUsage(cpu)
    const rounds = 100
    cpu = process.cpuUsage()
    for (let r = 0; r < rounds; r++) for (const text of texts) classifier.cached(text)
    const cached = process.cpuUsage(cpu)
    return {
      uncachedCpuUs: (uncached.user + uncached.system) / texts.length,
      cachedCpuUs: (cached.user + cached.system) / (texts.length * rounds)
    }
  })))
}

/** `Postgres` from the built JavaScript, as users run it. */
const distPostgres = async () =>
  ((await import(new URL("../../postgres/dist/index.js", import.meta.url).href)) as typeof PgFleet).Postgres

/**
 * Primary failover on a cluster of its own (a writer and one replica, both writer candidates): 4
 * writers insert in a loop, the writer is killed (immediate) at 1 s and the replica promoted. The
 * time from the kill to the first write acknowledged by the new primary, and the failed writes by kind.
 */
const writerFailover = async (probeIntervalMs: number) => {
  const Fleet = await distPostgres()
  const cluster = await startTestCluster({ replicas: 1 })
  try {
    const label = (h: { host: string; port: number }) => `${h.host}:${h.port}`
    const runtime = ManagedRuntime.make(Fleet.layer(Contenders.fleetSettings(cluster, {
      writerHosts: [label(cluster.writer), label(cluster.readers[0]!)],
      readerHosts: [],
      healthCheckInterval: probeIntervalMs,
      healthCheckTimeout: Math.min(probeIntervalMs, 500),
      connectTimeout: 1000
    })))
    const pg = await runtime.runPromise(Fleet.Postgres)
    await runtime.runPromise(pg.writer`CREATE TABLE moves (id serial PRIMARY KEY)`)
    const failed = new Map<string, number>()
    const started = performance.now()
    const buckets: Array<Charts.Bucket & { ok: number; failed: number }> = []
    const count = (kind: "ok" | "failed") => {
      const i = Math.floor((performance.now() - started) / BUCKET_MS)
      while (buckets.length <= i) buckets.push({ ok: 0, failed: 0 })
      buckets[i]![kind]++
    }
    let killedAt = 0
    let firstOnNew: number | undefined
    let stop = false
    const newPort = cluster.readers[0]!.port
    const worker = async () => {
      while (!stop) {
        const exit = await runtime.runPromiseExit(
          pg.writer<{ port: number }>`INSERT INTO moves DEFAULT VALUES RETURNING current_setting('port')::int AS port`
        )
        count(exit._tag === "Success" ? "ok" : "failed")
        if (exit._tag === "Success") {
          if (exit.value[0]!.port === newPort && firstOnNew === undefined) firstOnNew = Date.now()
        } else {
          const error = Cause.squash(exit.cause) as { cause?: { reason?: string; code?: string } }
          const kind = error.cause?.reason ?? error.cause?.code ?? "other"
          failed.set(kind, (failed.get(kind) ?? 0) + 1)
          await new Promise((resolve) => setTimeout(resolve, 10))
        }
      }
    }
    const workers = Promise.all(Array.from({ length: 4 }, worker))
    await new Promise((resolve) => setTimeout(resolve, smoke ? 300 : 1000))
    const killAtMs = performance.now() - started
    killedAt = Date.now()
    await cluster.stopWriter("immediate")
    await cluster.promoteReader(0)
    const deadline = Date.now() + 30_000
    while (firstOnNew === undefined && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10))
    await new Promise((resolve) => setTimeout(resolve, smoke ? 300 : 1000))
    stop = true
    await workers
    await runtime.dispose()
    const killToFirstWriteMs = firstOnNew === undefined ? undefined : firstOnNew - killedAt
    return {
      probeIntervalMs,
      killToFirstWriteMs,
      failedWrites: Object.fromEntries(failed),
      bucketMs: BUCKET_MS,
      killAtMs: Math.round(killAtMs),
      firstOnNewAtMs: killToFirstWriteMs === undefined ? undefined : Math.round(killAtMs + killToFirstWriteMs),
      buckets
    }
  } finally {
    await cluster.stop()
  }
}

/**
 * A frozen writer (SIGSTOP) on a cluster of its own: 4 writers insert in a loop, each insert holding
 * its connection 20 ms; the writer is frozen at 1 s for 5 s (`--smoke`: at 0.3 s for 1.5 s). The longest
 * wait of any write, the time from the freeze to the first failed write (detection), from the thaw to
 * the first write that succeeds, and writes per 250 ms with the longest wait of those ending in each.
 */
const writerFreeze = async (probeIntervalMs: number) => {
  const Fleet = await distPostgres()
  const cluster = await startTestCluster({ replicas: 1 })
  try {
    const runtime = ManagedRuntime.make(Fleet.layer(Contenders.fleetSettings(cluster, {
      readerHosts: [],
      healthCheckInterval: probeIntervalMs,
      healthCheckTimeout: probeIntervalMs
    })))
    const pg = await runtime.runPromise(Fleet.Postgres)
    await runtime.runPromise(pg.writer`CREATE TABLE frozen (id int)`)
    const runs: Array<{ start: number; end: number; failure: string | undefined }> = []
    let stop = false
    const worker = async () => {
      while (!stop) {
        const start = performance.now()
        const exit = await runtime.runPromiseExit(pg.writer`INSERT INTO frozen SELECT 1 FROM pg_sleep(0.02)`)
        const failure = exit._tag === "Success" ? undefined : String(
          (Cause.squash(exit.cause) as { cause?: { reason?: string } }).cause?.reason ?? "other"
        )
        runs.push({ start, end: performance.now(), failure })
        if (failure !== undefined) await new Promise((resolve) => setTimeout(resolve, 10))
      }
    }
    const started = performance.now()
    const workers = Promise.all(Array.from({ length: 4 }, worker))
    await new Promise((resolve) => setTimeout(resolve, smoke ? 300 : 1000))
    const frozenAt = performance.now()
    await cluster.freezeWriter()
    await new Promise((resolve) => setTimeout(resolve, smoke ? 1500 : 5000))
    await cluster.thawWriter()
    const thawedAt = performance.now()
    await new Promise((resolve) => setTimeout(resolve, smoke ? 500 : 2500))
    stop = true
    await workers
    await runtime.dispose()
    const firstFailure = runs.filter((r) => r.failure !== undefined).sort((a, b) => a.end - b.end)[0]
    const firstAfterThaw = runs.filter((r) => r.failure === undefined && r.end > thawedAt)
      .sort((a, b) => a.end - b.end)[0]
    const buckets = Array.from(
      { length: Math.ceil((performance.now() - started) / 250) },
      () => ({ ok: 0, failed: 0, maxWaitMs: 0 })
    )
    for (const r of runs) {
      const bucket = buckets[Math.floor((r.end - started) / 250)]
      if (bucket) {
        r.failure === undefined ? bucket.ok++ : bucket.failed++
        bucket.maxWaitMs = Math.max(bucket.maxWaitMs, Math.round(r.end - r.start))
      }
    }
    return {
      probeIntervalMs,
      longestWaitMs: Math.round(runs.reduce((max, r) => Math.max(max, r.end - r.start), 0)),
      freezeToDetectionMs: firstFailure === undefined ? undefined : Math.round(firstFailure.end - frozenAt),
      thawToFirstWriteMs: firstAfterThaw === undefined ? undefined : Math.round(firstAfterThaw.end - thawedAt),
      failedWrites: Object.fromEntries(
        [...new Set(runs.flatMap((r) => r.failure ?? []))].map((k) => [k, runs.filter((r) => r.failure === k).length])
      ),
      bucketMs: 250,
      frozenAtMs: Math.round(frozenAt - started),
      thawedAtMs: Math.round(thawedAt - started),
      buckets
    }
  } finally {
    await cluster.stop()
  }
}

/** The installed throughput table: one process per contender beside raw pg; `--mixed` adds one process with all. */
const installedThroughput = async (cluster: TestCluster.TestClusterPromise) => {
  const place = Installed.prepare(smoke, log)
  const only = argValue("--replicas")
  const picked = argValue("--contenders")?.split(",")
  try {
    const options = {
      rounds: ROUNDS,
      ms: SECONDS * 1000,
      callers: CONCURRENCY,
      pool: Contenders.POOL_SIZE,
      rows: Contenders.ROWS
    }
    const rows: Array<Installed.Row> = []
    for (const s of Installed.scenarios.filter((s) => only === undefined || s.replicas === Number(only))) {
      // Smoke: one process per scenario with every contender in it, to keep CI fast.
      const contenders = s.contenders.filter((c) => picked === undefined || picked.includes(c))
      const groups = smoke ? [contenders] : [
        ...contenders.map((c) => [c]),
        ...(process.argv.includes("--mixed") ? [contenders] : [])
      ]
      for (const group of groups) {
        const processName = group.length === 1 ? "raw pg + this" : `raw pg + ${group.length} (all)`
        log(`  ${s.name}: node ${place.nodeArgs.join(" ")} installed-run.mjs: raw pg + ${group.join(", ")}`)
        rows.push(
          ...Installed.rows(
            s.name,
            processName,
            await Installed.runProcess(place, cluster, group, { ...options, replicas: s.replicas })
          )
        )
      }
    }
    return { where: place.describe, rows }
  } finally {
    place.cleanup()
  }
}

const argValue = (name: string) => {
  const at = process.argv.indexOf(name)
  return at >= 0 ? process.argv[at + 1] : undefined
}

/** Where the SVG charts go: committed full runs in bench-results/, smoke runs beside them (ignored by git). */
const chartsDir = path.join(here, "../../../bench-results", smoke ? "smoke" : "")

const writeCharts = async (charts: {
  replicaStop?: ReadonlyArray<Charts.ReplicaStop> | undefined
  writerFailover?: ReadonlyArray<Charts.WriterFailover> | undefined
  writerFreeze?: ReadonlyArray<Charts.WriterFreeze> | undefined
}) => {
  const written = await Charts.writeCharts(chartsDir, {
    ...(charts.replicaStop?.length ? { "replica-stop": Charts.replicaStopSpec(charts.replicaStop) } : {}),
    ...(charts.writerFailover?.length ? { "writer-failover": Charts.writerFailoverSpec(charts.writerFailover) } : {}),
    ...(charts.writerFreeze?.length ? { "writer-freeze": Charts.writerFreezeSpec(charts.writerFreeze) } : {})
  })
  for (const file of written) log(`Chart written to ${path.relative(process.cwd(), file)} (checked: SVG)`)
  return written
}

const main = async () => {
  log(
    `pgfleet bench${smoke ? " (smoke)" : ""}: ${os.cpus().length} cores, ${
      Math.round(os.totalmem() / 2 ** 30)
    } GiB, node ${process.version}`
  )
  log("Starting an embedded primary with 2 streaming replicas ...")
  const cluster = await startTestCluster({ replicas: 2 })
  const throughputOnly = process.argv.includes("--throughput")
  try {
    log(`Seeding ${Contenders.ROWS} rows and waiting for the replicas ...`)
    await seed(cluster)

    log(`Throughput: ${ROUNDS} round(s) of ${SECONDS} s per contender and workload, ${CONCURRENCY} concurrent readers`)
    // `--in-process`: the former six-way table, every contender in this (tsx) process; `--baseline` needs it.
    const inProcess = process.argv.includes("--in-process") || Contenders.baselineDir !== undefined
    const rows = inProcess ?
      [
        ...await scenario("one replica", cluster, cluster.readers.slice(0, 1), Contenders.oneReplica),
        ...await scenario("two replicas", cluster, cluster.readers, Contenders.twoReplicas)
      ] :
      []
    const installed = inProcess ? undefined : await installedThroughput(cluster)

    let warm: { fleetMs: number; singleMs: number } | undefined
    let failovers: Array<Charts.ReplicaStop> = []
    let rss: Array<{ name: string; maxRssMiB: number }> = []
    let writerFailovers: Array<Awaited<ReturnType<typeof writerFailover>>> = []
    let writerFreezes: Array<Awaited<ReturnType<typeof writerFreeze>>> = []
    let classification: {
      service: Awaited<ReturnType<typeof classificationCost>>
      parser: ReturnType<typeof parserCost>
    } | undefined
    if (smoke) {
      // Every chart from short real runs, so CI checks the whole path from measurement to SVG.
      log("Timelines (smoke): a replica stop, a primary failover and a writer freeze, shortened ...")
      failovers = await replicaStops(cluster)
      writerFailovers = [await writerFailover(250)]
      writerFreezes = [await writerFreeze(250)]
    } else if (!throughputOnly) {
      log("Warm-up: pgfleet with writer + 2 readers against writer only, 10 connections a host (median of 5) ...")
      const fleet: Array<number> = []
      const single: Array<number> = []
      for (let i = 0; i < 5; i++) {
        single.push(await warmup(cluster, false))
        fleet.push(await warmup(cluster, true))
      }
      warm = { fleetMs: median(fleet), singleMs: median(single) }

      log("Failover: reader 0 stopped 1 s into a 3 s load ...")
      failovers = await replicaStops(cluster)

      log("Peak RSS: each contender alone in a child process, 2 s of SELECT 1 ...")
      rss = Contenders.twoReplicas.map((_, i) => peakRss(i, cluster))

      log("Primary failover: writer killed, replica promoted, at 250 ms and 1 s probe intervals ...")
      writerFailovers = [await writerFailover(250), await writerFailover(1000)]

      log("Writer freeze: SIGSTOP for 5 s under 4 writers, at 250 ms and 1 s probe intervals ...")
      writerFreezes = [await writerFreeze(250), await writerFreeze(1000)]

      log("Statement classification (pg.auto): cost per statement and the parser's memory ...")
      classification = { service: await classificationCost(cluster), parser: parserCost() }
    }
    const charts = await writeCharts({
      replicaStop: failovers,
      writerFailover: writerFailovers,
      writerFreeze: writerFreezes
    })
    if (smoke && charts.length !== 3) throw new Error(`bench --smoke: expected 3 charts, wrote ${charts.length}`)
    // The Effect 4 line's table too, from the workspace's dist (about 15 s): it must run, not be fast.
    if (smoke) await effect4Only()

    const results = {
      date: new Date().toISOString(),
      machine: {
        cores: os.cpus().length,
        cpu: os.cpus()[0]?.model,
        memoryGiB: Math.round(os.totalmem() / 2 ** 30),
        node: process.version
      },
      setup: {
        replicas: 2,
        poolSize: Contenders.POOL_SIZE,
        concurrency: CONCURRENCY,
        rounds: ROUNDS,
        secondsPerRun: SECONDS
      },
      installed,
      throughput: rows,
      warmup: warm,
      failover: failovers,
      peakRss: rss,
      classification,
      writerFailovers,
      writerFreezes
    }
    fs.mkdirSync(path.dirname(resultsFile), { recursive: true })
    fs.writeFileSync(resultsFile, JSON.stringify(results, null, 2))
    log("")
    if (installed) log(`**As users run it** (${installed.where})\n${Installed.markdown(installed.rows)}`)
    log(markdown(results))
    log(`\nResults written to ${path.relative(process.cwd(), resultsFile)}`)
  } finally {
    await cluster.stop()
  }
}

const markdown = (r: {
  throughput: ReadonlyArray<
    {
      scenario: string
      name: string
      workload: string
      readsPerSecond: number
      cpuUsPerOp: number
      p50Ms: number
      p99Ms: number
      failed: number
    }
  >
  warmup: { fleetMs: number; singleMs: number } | undefined
  failover: ReadonlyArray<Charts.ReplicaStop>
  peakRss: ReadonlyArray<{ name: string; maxRssMiB: number }>
  writerFailovers: ReadonlyArray<Awaited<ReturnType<typeof writerFailover>>>
  writerFreezes: ReadonlyArray<Awaited<ReturnType<typeof writerFreeze>>>
  classification:
    | {
      service: { uncachedCpuUs: number; cachedCpuUs: number }
      parser: ReturnType<typeof parserCost>
    }
    | undefined
}) => {
  const lines: Array<string> = []
  for (const scenarioName of [...new Set(r.throughput.map((t) => t.scenario))]) {
    for (const workload of Contenders.workloads) {
      const rows = r.throughput.filter((t) => t.workload === workload && t.scenario === scenarioName)
      const a = rows.find((t) => t.name.startsWith("(a)"))!.readsPerSecond
      const b = rows.find((t) => t.name.startsWith("(b)"))!.readsPerSecond
      lines.push(
        `\n**${workload}, ${scenarioName}**\n`,
        "| contender | reads/s | ÷ raw pg | ÷ @effect/sql-pg | CPU µs/statement | p50 ms | p99 ms | failed |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
      )
      for (const t of rows) {
        lines.push(
          `| ${t.name} | ${fmt(t.readsPerSecond)} | ${fmt(t.readsPerSecond / a, 2)} | ${
            fmt(t.readsPerSecond / b, 2)
          } | ${fmt(t.cpuUsPerOp, 1)} | ${fmt(t.p50Ms, 2)} | ${fmt(t.p99Ms, 2)} | ${t.failed} |`
        )
      }
    }
  }
  if (r.warmup) {
    lines.push(
      "",
      `**Warm-up** (10 connections a host, median of 5): writer + 2 readers ${fmt(r.warmup.fleetMs)} ms, writer alone ${
        fmt(r.warmup.singleMs)
      } ms, ratio ${fmt(r.warmup.fleetMs / r.warmup.singleMs, 2)}`
    )
  }
  if (r.failover.length) {
    const perSecond = (f: Charts.ReplicaStop) => {
      const n = 1000 / f.bucketMs
      return Array.from(
        { length: Math.ceil(f.buckets.length / n) },
        (_, i) =>
          f.buckets.slice(i * n, (i + 1) * n).reduce((a, b) => ({ ok: a.ok + b.ok, failed: a.failed + b.failed }), {
            ok: 0,
            failed: 0
          })
      )
    }
    const seconds = perSecond(r.failover[0]!).length
    lines.push(
      "",
      `**Failover** (reader 0 stopped at ${r.failover[0]!.stopAtMs} ms; per 100 ms in bench-results/replica-stop.svg)`,
      "",
      `| contender | ${Array.from({ length: seconds }, (_, i) => `${i}-${i + 1} s reads / failed`).join(" | ")} |`,
      `| --- | ${Array.from({ length: seconds }, () => "---:").join(" | ")} |`
    )
    for (const f of r.failover) {
      lines.push(`| ${f.name} | ${perSecond(f).map((s) => `${s.ok} / ${s.failed}`).join(" | ")} |`)
    }
  }
  if (r.writerFailovers.length) {
    lines.push(
      "",
      `**Primary failover** (writer killed at ${
        r.writerFailovers[0]!.killAtMs
      } ms under 4 writers, replica promoted; both are writer candidates; per 100 ms in writer-failover.svg)`,
      "",
      "| probe interval | kill to first write on the new primary | failed writes by kind |",
      "| ---: | ---: | --- |"
    )
    for (const f of r.writerFailovers) {
      lines.push(
        `| ${f.probeIntervalMs} ms | ${f.killToFirstWriteMs ?? "-"} ms | ${
          Object.entries(f.failedWrites).map(([k, n]) => `${k}: ${n}`).join(", ") || "none"
        } |`
      )
    }
  }
  if (r.writerFreezes.length) {
    lines.push("", ...freezeTable(r.writerFreezes))
  }
  if (r.classification) {
    const { parser, service } = r.classification
    lines.push(
      "",
      "**Statement classification** (`pg.auto`)",
      "",
      `- Through the service, CPU µs per statement: uncached (parse + classify + cache) ${
        fmt(service.uncachedCpuUs, 1)
      }, cached (an LRU hit) ${fmt(service.cachedCpuUs, 2)}; the parser alone, uncached: ${
        fmt(parser.uncachedCpuUsPerStatement, 1)
      }.`,
      `- Memory (RSS / JS heap / external MiB): before the parser ${parser.memory.before.rssMiB} / ${parser.memory.before.heapMiB} / ${parser.memory.before.externalMiB}, loaded ${parser.memory.loaded.rssMiB} / ${parser.memory.loaded.heapMiB} / ${parser.memory.loaded.externalMiB}, after ${parser.statements} distinct statements ${parser.memory.after.rssMiB} / ${parser.memory.after.heapMiB} / ${parser.memory.after.externalMiB}.`
    )
  }
  if (r.peakRss.length) {
    lines.push("", "**Peak RSS**", "", "| contender | MiB |", "| --- | ---: |")
    for (const m of r.peakRss) lines.push(`| ${m.name} | ${fmt(m.maxRssMiB)} |`)
  }
  return lines.join("\n")
}

/** The writer freeze timeline as markdown: one row per probe interval, writes per 250 ms as ok/failed. */
const freezeTable = (freezes: ReadonlyArray<Awaited<ReturnType<typeof writerFreeze>>>) => [
  `**Writer freeze** (SIGSTOP at ${freezes[0]!.frozenAtMs} ms for ${
    freezes[0]!.thawedAtMs - freezes[0]!.frozenAtMs
  } ms under 4 writers; default threshold 2, probe timeout = interval; writer-freeze.svg)`,
  "",
  "| probe interval | longest wait | freeze to detection | thaw to first write | failed writes by kind |",
  "| ---: | ---: | ---: | ---: | --- |",
  ...freezes.map((f) =>
    `| ${f.probeIntervalMs} ms | ${f.longestWaitMs} ms | ${f.freezeToDetectionMs ?? "-"} ms | ${
      f.thawToFirstWriteMs ?? "-"
    } ms | ${Object.entries(f.failedWrites).map(([k, n]) => `${k}: ${n}`).join(", ") || "none"} |`
  ),
  "",
  "Writes per 250 ms (ok/failed):",
  "",
  ...freezes.map((f) => `- ${f.probeIntervalMs} ms: ${f.buckets.map((b) => `${b.ok}/${b.failed}`).join(" ")}`)
]

/**
 * `pnpm bench --replica-stop`, `--writer-failover`, `--writer-freeze`: only that timeline, printed and
 * charted into bench-results/; `--charts`: all three.
 */
const timelinesOnly = async () => {
  const all = process.argv.includes("--charts")
  const charts: {
    replicaStop?: Array<Charts.ReplicaStop>
    writerFailover?: Array<Awaited<ReturnType<typeof writerFailover>>>
    writerFreeze?: Array<Awaited<ReturnType<typeof writerFreeze>>>
  } = {}
  if (all || process.argv.includes("--replica-stop")) {
    const cluster = await startTestCluster({ replicas: 2 })
    try {
      await seed(cluster)
      charts.replicaStop = await replicaStops(cluster)
    } finally {
      await cluster.stop()
    }
  }
  if (all || process.argv.includes("--writer-failover")) {
    charts.writerFailover = [await writerFailover(250), await writerFailover(1000)]
  }
  if (all || process.argv.includes("--writer-freeze")) {
    charts.writerFreeze = [await writerFreeze(250), await writerFreeze(1000)]
  }
  log(markdown({
    throughput: [],
    warmup: undefined,
    failover: charts.replicaStop ?? [],
    peakRss: [],
    writerFailovers: charts.writerFailover ?? [],
    writerFreezes: charts.writerFreeze ?? [],
    classification: undefined
  }))
  fs.writeFileSync(
    path.join(chartsDir, "timelines.json"),
    JSON.stringify({ date: new Date().toISOString(), ...charts }, null, 2)
  )
  await writeCharts(charts)
}
/** `pnpm bench --installed`: the pg.Pool adapter as users run it, from the packed tarballs under plain node. */
const installedOnly = async () => {
  const script = new URL("../../../scripts/bench-installed.mjs", import.meta.url)
  execFileSync("node", [fileURLToPath(script), ...process.argv.slice(2).filter((a) => a !== "--installed")], {
    stdio: "inherit"
  })
}
/** `pnpm bench --effect4`: the Effect 4 line side by side in one process (src/effect4.ts); bench-results/effect4.json. */
const effect4Only = async () => {
  const result = await Effect4.run(
    { smoke, rounds: smoke ? 1 : 5, ms: SECONDS * 1000, callers: CONCURRENCY },
    seed,
    log
  )
  const file = path.join(here, "../../../bench-results", smoke ? "smoke/effect4.json" : "effect4.json")
  fs.mkdirSync(path.dirname(file), { recursive: true })
  fs.writeFileSync(file, JSON.stringify(result, null, 2))
}
;(process.argv.includes("--effect4")
  ? effect4Only()
  : process.argv.includes("--installed")
  ? installedOnly()
  : ["--charts", "--replica-stop", "--writer-failover", "--writer-freeze"].some((flag) => process.argv.includes(flag))
  ? timelinesOnly()
  : main()).catch((e) => {
    console.error(e)
    process.exitCode = 1
  })
