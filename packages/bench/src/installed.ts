/**
 * The throughput table as users run pgfleet: `@pgfleet/core` and `@pgfleet/postgres` packed, the
 * tarballs installed with npm into an empty project, and `installed-run.mjs` run there by plain
 * `node`. Each contender runs in a process of its own with raw pg alone beside it (alternated,
 * medians of rounds), as a user's process runs pgfleet with nothing else.
 */
import type { TestCluster } from "@pgfleet/testing"
import { execFileSync, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { median } from "./measure.js"

/** A client script of the bench into `dir`, with the modules it imports (the load loops, the fake wire). */
export const copyScript = (script: string, dir: string) => {
  for (const file of [script, "load.mjs", "fakeWire.mjs"]) fs.copyFileSync(path.join(here, file), path.join(dir, file))
}

/** What a bench child process needs of the cluster: its addresses, login and `DB_*` variables. */
export const clusterForChild = (cluster: TestCluster.TestClusterPromise) => ({
  writer: cluster.writer,
  readers: cluster.readers,
  username: cluster.username,
  database: cluster.database,
  env: cluster.env
})

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.resolve(here, "../../..")
const SCRIPT = "installed-run.mjs"

/** Where and how the client processes run. */
export interface Place {
  readonly cwd: string
  readonly nodeArgs: ReadonlyArray<string>
  readonly modules?: { readonly postgres: string } | undefined
  readonly describe: string
  readonly cleanup: () => void
}

/**
 * The empty project with the packed tarballs installed (full runs), or, for `--smoke` (CI: no npm
 * install), the workspace's built `dist` under plain node.
 */
export const prepare = (smoke: boolean, log: (line: string) => void): Place => {
  if (smoke) {
    return {
      cwd: here,
      nodeArgs: ["--conditions=pgfleet-dist"],
      modules: { postgres: pathToFileURL(path.join(root, "packages/postgres/dist/index.js")).href },
      describe: "the workspace's dist under plain node (smoke: nothing packed)",
      cleanup: () => {}
    }
  }
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "pgfleet-bench-users-"))
  log(`Packing @pgfleet/core and @pgfleet/postgres into ${work} ...`)
  const tarballs = ["core", "postgres"].map((name) =>
    execFileSync("pnpm", ["pack", "--pack-destination", work], {
      cwd: path.join(root, "packages", name),
      encoding: "utf8"
    }).trim().split("\n").at(-1)!
  )
  const bench = JSON.parse(fs.readFileSync(path.join(here, "../package.json"), "utf8")) as {
    dependencies: Record<string, string>
  }
  const peers = ["drizzle-orm", "pg", "effect", "@effect/sql-pg", "@effect/experimental"]
    .map((name) => `${name}@${bench.dependencies[name]}`)
  log(`npm install ${tarballs.map((t) => path.basename(t)).join(" ")} ${peers.join(" ")} ...`)
  fs.writeFileSync(path.join(work, "package.json"), JSON.stringify({ name: "bench", private: true, type: "module" }))
  execFileSync("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error", ...tarballs, ...peers], {
    cwd: work,
    stdio: "inherit"
  })
  copyScript(SCRIPT, work)
  return {
    cwd: work,
    nodeArgs: [],
    describe: `packed tarballs installed with npm in ${work}, plain node`,
    cleanup: () => fs.rmSync(work, { recursive: true, force: true })
  }
}

/** One run of one contender, as `installed-run.mjs` prints it. */
export interface Run {
  readonly key: string
  readonly name: string
  readonly workload: string
  readonly round: number
  readonly perSecond: number
  readonly cpuUs: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly failed: number
}

export interface Options {
  readonly replicas: number
  readonly rounds: number
  readonly ms: number
  readonly callers: number
  readonly pool: number
  readonly rows: number
}

/** Runs raw pg and `contenders` alternated in ONE fresh `node` process and returns every run. */
export const runProcess = (
  place: Place,
  cluster: TestCluster.TestClusterPromise,
  contenders: ReadonlyArray<string>,
  options: Options
): Promise<ReadonlyArray<Run>> => {
  const config = {
    contenders,
    cluster: clusterForChild(cluster),
    modules: place.modules,
    ...options
  }
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...place.nodeArgs, SCRIPT, JSON.stringify(config)], {
      cwd: place.cwd,
      stdio: ["ignore", "pipe", "inherit"]
    })
    let out = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (out += chunk))
    child.on("error", reject)
    child.on("close", (code) => {
      if (code !== 0) return reject(new Error(`bench: ${SCRIPT} ${contenders.join(" ")} exited with ${code}`))
      resolve((JSON.parse(out.trim().split("\n").at(-1)!) as { runs: ReadonlyArray<Run> }).runs)
    })
  })
}

/** A contender's medians beside raw pg's medians from the same process. */
export interface Row {
  readonly scenario: string
  readonly process: string
  readonly workload: string
  readonly name: string
  readonly perSecond: number
  readonly rawPerSecond: number
  readonly ratio: number
  /** The lowest and highest per-round ratio (round r of the contender ÷ round r of raw pg). */
  readonly ratioRange: readonly [number, number]
  readonly cpuUs: number
  readonly rawCpuUs: number
  /**
   * The median of each round's CPU ÷ the same round's raw pg: the two run back to back under the
   * same load, so this moves less with the machine's load than `cpuUs / rawCpuUs`.
   */
  readonly cpuRatioPaired: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly failed: number
  readonly rounds: number
}

/** Medians per contender and workload of one process's runs, each beside that process's raw pg. */
export const rows = (scenario: string, processName: string, runs: ReadonlyArray<Run>): Array<Row> => {
  const out: Array<Row> = []
  for (const workload of [...new Set(runs.map((r) => r.workload))]) {
    const of = (key: string) => runs.filter((r) => r.workload === workload && r.key === key)
    const raw = of("raw-pg")
    for (const key of [...new Set(runs.map((r) => r.key))].filter((k) => k !== "raw-pg")) {
      const mine = of(key)
      const perRound = mine.map((r, i) => r.perSecond / raw[i]!.perSecond)
      const perSecond = median(mine.map((r) => r.perSecond))
      const rawPerSecond = median(raw.map((r) => r.perSecond))
      out.push({
        scenario,
        process: processName,
        workload,
        name: mine[0]!.name,
        perSecond,
        rawPerSecond,
        ratio: perSecond / rawPerSecond,
        ratioRange: [Math.min(...perRound), Math.max(...perRound)],
        cpuUs: median(mine.map((r) => r.cpuUs)),
        rawCpuUs: median(raw.map((r) => r.cpuUs)),
        cpuRatioPaired: median(mine.map((r, i) => r.cpuUs / raw[i]!.cpuUs)),
        p50Ms: median(mine.map((r) => r.p50Ms)),
        p99Ms: median(mine.map((r) => r.p99Ms)),
        failed: mine.reduce((a, r) => a + r.failed, 0),
        rounds: mine.length
      })
    }
  }
  return out
}

/** The contenders of each scenario; each gets a process of its own beside raw pg. */
export const scenarios: ReadonlyArray<
  { readonly name: string; readonly replicas: number; readonly contenders: ReadonlyArray<string> }
> = [
  {
    name: "one replica",
    replicas: 1,
    contenders: ["effect-floor", "sql-pg", "drizzle", "pgfleet-reader-random", "pgfleet-readerPool"]
  },
  {
    name: "two replicas",
    replicas: 2,
    contenders: [
      "effect-floor",
      "sql-pg",
      "drizzle",
      "pgfleet-reader-random",
      "pgfleet-reader-round-robin",
      "pgfleet-reader-least-connections",
      "pgfleet-auto-random",
      "pgfleet-readerPool"
    ]
  }
]

const fmt = (n: number, digits = 0) => Number.isFinite(n) ? n.toFixed(digits) : "-"

/** The table: every ratio with the client CPU µs per statement beside it. */
export const markdown = (all: ReadonlyArray<Row>): string => {
  const lines: Array<string> = []
  for (const scenario of [...new Set(all.map((r) => r.scenario))]) {
    for (const workload of [...new Set(all.map((r) => r.workload))]) {
      const rs = all.filter((r) => r.scenario === scenario && r.workload === workload)
      if (rs.length === 0) continue
      lines.push(
        `\n**${workload}, ${scenario}**\n`,
        "| contender | process | reads/s | raw pg reads/s | ÷ raw pg (rounds' range) | CPU µs/statement | raw pg CPU µs | CPU ÷ raw | CPU ÷ raw, paired rounds | p50 ms | p99 ms | failed |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
      )
      for (const r of rs) {
        lines.push(
          `| ${r.name} | ${r.process} | ${fmt(r.perSecond)} | ${fmt(r.rawPerSecond)} | ${fmt(r.ratio, 2)} (${
            fmt(r.ratioRange[0], 2)
          }–${fmt(r.ratioRange[1], 2)}) | ${fmt(r.cpuUs, 1)} | ${fmt(r.rawCpuUs, 1)} | ${
            fmt(r.cpuUs / r.rawCpuUs, 2)
          } | ${fmt(r.cpuRatioPaired, 2)} | ${fmt(r.p50Ms, 2)} | ${fmt(r.p99Ms, 2)} | ${r.failed} |`
        )
      }
    }
  }
  return lines.join("\n")
}
