/**
 * `pnpm bench --effect4`: the Effect 4 line, one replica, 32 callers, pools of 8, alternated in plain-node
 * processes (`effect4-run.mjs`), medians of rounds, client CPU µs per statement beside every ratio:
 * - the goal's process, the contenders the goal names: raw pg, @effect/sql-pg 4's PgClient (multiplex off
 *   and on) and pgfleet v4's reader on each driver (node-postgres; DB_DRIVER=sql-pg, multiplex off and on);
 * - the drivers' process, what the choice of driver rests on: raw pg, the two drivers under Effect 4
 *   (node-postgres's pg.Pool; @effect/sql-pg 4's PgPool, multiplex off and on) and effect/sql's
 *   SqlClient.make over pg.Pool.query (effect/sql's own statement path on node-postgres). Apart, because
 *   every contender in a process moves the others' figures;
 * - the goal's pairs again, each contender in processes of its own beside raw pg, as a user's process
 *   runs one of them (`ownProcessPairs`).
 * `src/effect4-quick.ts` re-measures a few of them against a kept installed project. Full runs use the
 * packed @pgfleet/core and @pgfleet/effect4 installed with npm beside the pinned effect 4 and
 * @effect/sql-pg 4; `--smoke` loads the workspace's built dist by file URL (no npm install).
 */
import { startTestCluster } from "@pgfleet/testing"
import { execFileSync, spawn } from "node:child_process"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import * as Installed from "./installed.js"
import { median } from "./measure.js"

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.resolve(here, "../../..")
const SCRIPT = "effect4-run.mjs"

/**
 * The one-process measures, each contender after raw pg in the order they alternate. With all ten in one
 * process (stop 29), pgfleet's rows ran 0.75–0.86× `PgClient`'s; with three, 0.98×: every contender in
 * a process moves the others' figures, so the goal's contenders run without the drivers' rows beside them.
 */
export const processes = [
  {
    name: "the goal's",
    contenders: [
      "sql-pg-off",
      "sql-pg-on",
      "pgfleet4-reader",
      "pgfleet4-reader-sql-pg-off",
      "pgfleet4-reader-sql-pg-on"
    ]
  },
  {
    name: "the drivers'",
    contenders: ["driver-node-postgres", "driver-pgpool-off", "driver-pgpool-on", "sqlclient-node-postgres"]
  }
] as const

interface Place {
  readonly cwd: string
  readonly nodeArgs: ReadonlyArray<string>
  readonly modules?: Record<string, string> | undefined
  readonly describe: string
  readonly versions: Record<string, string>
  readonly cleanup: () => void
}

const versionsIn = (resolveFrom: string): Record<string, string> => {
  const require = createRequire(resolveFrom)
  return Object.fromEntries(
    ["effect", "@effect/sql-pg", "pg"].map((name) => {
      const main = require.resolve(name)
      let dir = path.dirname(main)
      while (!fs.existsSync(path.join(dir, "package.json")) || !dir.endsWith(name.split("/").at(-1)!)) {
        dir = path.dirname(dir)
      }
      return [
        name,
        (JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")) as { version: string }).version
      ]
    })
  )
}

const prepare = (smoke: boolean, log: (line: string) => void): Place => {
  const effect4 = path.join(root, "packages/effect4")
  if (smoke) {
    const require = createRequire(path.join(effect4, "package.json"))
    const url = (file: string) => pathToFileURL(file).href
    return {
      cwd: here,
      nodeArgs: ["--conditions=pgfleet-dist"],
      modules: {
        effect: url(require.resolve("effect")),
        "effect/reactivity": url(require.resolve("effect/reactivity")),
        "effect/sql": url(require.resolve("effect/sql")),
        "@effect/sql-pg": url(require.resolve("@effect/sql-pg")),
        pg: url(require.resolve("pg")),
        "@pgfleet/effect4": url(path.join(effect4, "dist/index.js")),
        "@pgfleet/core": url(path.join(root, "packages/core/dist/index.js"))
      },
      describe: "the workspace's dist under plain node (smoke: nothing packed)",
      versions: versionsIn(path.join(effect4, "package.json")),
      cleanup: () => {}
    }
  }
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "pgfleet-bench-effect4-"))
  log(`Packing @pgfleet/core and @pgfleet/effect4 into ${work} ...`)
  const tarballs = ["core", "effect4"].map((name) =>
    execFileSync("pnpm", ["pack", "--pack-destination", work], {
      cwd: path.join(root, "packages", name),
      encoding: "utf8"
    }).trim().split("\n").at(-1)!
  )
  const pkg = JSON.parse(fs.readFileSync(path.join(effect4, "package.json"), "utf8")) as {
    devDependencies: Record<string, string>
  }
  // The versions @pgfleet/effect4 is tested with (its peers are pinned to them).
  const peers = ["effect", "@effect/sql-pg"].map((name) => `${name}@${pkg.devDependencies[name]}`)
  log(`npm install ${tarballs.map((t) => path.basename(t)).join(" ")} ${peers.join(" ")} ...`)
  fs.writeFileSync(path.join(work, "package.json"), JSON.stringify({ name: "bench4", private: true, type: "module" }))
  execFileSync("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error", ...tarballs, ...peers], {
    cwd: work,
    stdio: "inherit"
  })
  Installed.copyScript(SCRIPT, work)
  return {
    cwd: work,
    nodeArgs: [],
    describe: `packed tarballs installed with npm in ${work}, plain node`,
    versions: versionsIn(path.join(work, "package.json")),
    cleanup: () => fs.rmSync(work, { recursive: true, force: true })
  }
}

const runProcess = (place: Place, config: unknown): Promise<ReadonlyArray<Installed.Run>> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...place.nodeArgs, SCRIPT, JSON.stringify(config)], {
      cwd: place.cwd,
      stdio: ["ignore", "pipe", "inherit"]
    })
    let out = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (out += chunk))
    child.on("error", reject)
    child.on("close", (code) => {
      if (code !== 0) return reject(new Error(`bench: ${SCRIPT} exited with ${code}`))
      resolve((JSON.parse(out.trim().split("\n").at(-1)!) as { runs: ReadonlyArray<Installed.Run> }).runs)
    })
  })

/**
 * The goal's pairs, each contender in a process of its own beside raw pg, as a user's process runs
 * pgfleet: in one process, identical copies of pgfleet's reader measured 0.6–3.9 µs per statement
 * apart depending on their order, so the one-process table alone cannot decide a 1.0× goal.
 */
export const ownProcessPairs = [
  { pgfleet: "pgfleet4-reader-sql-pg-off", peer: "sql-pg-off" },
  { pgfleet: "pgfleet4-reader-sql-pg-on", peer: "sql-pg-on" }
] as const

/** pgfleet ÷ its peer, from each one's per-round ratios to raw pg in its own processes (medians). */
export interface OwnProcessRow {
  readonly workload: string
  readonly pgfleet: string
  readonly peer: string
  /** Reads per second ÷ the peer's, each first ÷ raw pg in the same process. */
  readonly reads: number
  /** Client CPU per statement ÷ the peer's, each first ÷ raw pg's. */
  readonly cpu: number
  readonly pgfleetCpuUs: number
  readonly peerCpuUs: number
  readonly processes: number
}

const perRound = (runs: ReadonlyArray<Installed.Run>, key: string, workload: string) => {
  const raw = runs.filter((r) => r.workload === workload && r.key === "raw-pg")
  return runs.filter((r) => r.workload === workload && r.key === key).map((r, i) => ({
    reads: r.perSecond / raw[i]!.perSecond,
    cpu: r.cpuUs / raw[i]!.cpuUs,
    cpuUs: r.cpuUs
  }))
}

type OwnRun = Installed.Run & { readonly process: number }

const ownProcessRows = (byKey: Map<string, Array<OwnRun>>, workloads: ReadonlyArray<string>) =>
  ownProcessPairs.flatMap(({ peer, pgfleet }) =>
    workloads.map((workload): OwnProcessRow => {
      const mine = perRound(byKey.get(pgfleet)!, pgfleet, workload)
      const theirs = perRound(byKey.get(peer)!, peer, workload)
      const med = (xs: ReadonlyArray<{ reads: number; cpu: number; cpuUs: number }>, f: "reads" | "cpu" | "cpuUs") =>
        median(xs.map((x) => x[f]))
      return {
        workload,
        pgfleet,
        peer,
        reads: med(mine, "reads") / med(theirs, "reads"),
        cpu: med(mine, "cpu") / med(theirs, "cpu"),
        pgfleetCpuUs: med(mine, "cpuUs"),
        peerCpuUs: med(theirs, "cpuUs"),
        processes: new Set(byKey.get(pgfleet)!.map((r) => r.process)).size
      }
    })
  )

const ownProcessMarkdown = (rows: ReadonlyArray<OwnProcessRow>) =>
  [
    "\n| workload | pgfleet v4 reader | ÷ peer | reads ÷ peer's (each ÷ raw pg first) | CPU ÷ peer's (each ÷ raw pg first) | CPU µs/statement (pgfleet / peer) | processes each |",
    "| --- | --- | --- | ---: | ---: | ---: | ---: |",
    ...rows.map((r) =>
      `| ${r.workload} | ${r.pgfleet} | ${r.peer} | ${r.reads.toFixed(2)} | ${r.cpu.toFixed(2)} | ${
        r.pgfleetCpuUs.toFixed(1)
      } / ${r.peerCpuUs.toFixed(1)} | ${r.processes} |`
    )
  ].join("\n")

/** The table, the machine's load around the run, and the figures as JSON (`bench-results/effect4.json`). */
export const run = async (
  options: { readonly smoke: boolean; readonly rounds: number; readonly ms: number; readonly callers: number },
  seed: (cluster: Awaited<ReturnType<typeof startTestCluster>>) => Promise<void>,
  log: (line: string) => void
) => {
  const place = prepare(options.smoke, log)
  const loadBefore = os.loadavg()
  const cluster = await startTestCluster({ replicas: 1 })
  try {
    await seed(cluster)
    const config = {
      contenders: [] as ReadonlyArray<string>,
      cluster: Installed.clusterForChild(cluster),
      modules: place.modules,
      replicas: 1,
      rounds: options.rounds,
      ms: options.ms,
      callers: options.callers,
      pool: 8,
      rows: 100_000
    }
    const rows: Array<Installed.Row> = []
    let workloads: ReadonlyArray<string> = []
    for (const { contenders, name } of processes) {
      log(
        `Effect 4 line, ${name} process (${place.describe}; ${JSON.stringify(place.versions)}): raw pg + ${
          contenders.join(", ")
        }, ${options.rounds} round(s) of ${options.ms} ms, ${options.callers} callers`
      )
      const runs = await runProcess(place, { ...config, contenders })
      workloads = [...new Set(runs.map((r) => r.workload))]
      const these = Installed.rows("one replica, effect 4", `${name}: raw pg + ${contenders.join(", ")}`, runs)
      log(Installed.markdown(these))
      rows.push(...these)
    }

    // The same pairs again, each in its own processes beside raw pg, alternated `repeats` times.
    const repeats = options.smoke ? 1 : 2
    log(`\nThe goal's pairs, each contender in its own process beside raw pg (${repeats} process(es) each) ...`)
    const byKey = new Map<string, Array<OwnRun>>()
    let started = 0
    for (let repeat = 0; repeat < repeats; repeat++) {
      for (const key of ownProcessPairs.flatMap((p) => [p.peer, p.pgfleet])) {
        const own = await runProcess(place, { ...config, contenders: [key] })
        started++
        byKey.set(key, [...byKey.get(key) ?? [], ...own.map((r) => ({ ...r, process: started }))])
      }
    }
    const ownProcess = ownProcessRows(byKey, workloads)
    log(ownProcessMarkdown(ownProcess))
    const loadAfter = os.loadavg()
    log(
      `\nload average (1/5/15 min) before: ${loadBefore.map((l) => l.toFixed(2)).join(" ")}; after: ${
        loadAfter.map((l) => l.toFixed(2)).join(" ")
      } on ${os.cpus().length} cores`
    )
    return {
      date: new Date().toISOString(),
      where: place.describe,
      versions: place.versions,
      loadAverage: { before: loadBefore, after: loadAfter, cores: os.cpus().length },
      setup: { replicas: 1, poolSize: 8, callers: options.callers, rounds: options.rounds, msPerRun: options.ms },
      rows,
      ownProcess
    }
  } finally {
    await cluster.stop()
    place.cleanup()
  }
}
