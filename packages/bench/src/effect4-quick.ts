/**
 * A quicker re-measure of the Effect 4 line than `pnpm bench --effect4` (which packs, installs and
 * runs every contender, 5 rounds, ~4 min): keeps one installed project in `--dir`, repacks only what
 * asks for it, and runs the contenders you name against a fresh one-replica cluster, alternated with
 * raw pg in one plain-node process, as `effect4-run.mjs` runs them for the full bench.
 *
 *   pnpm --filter @pgfleet/bench exec tsx src/effect4-quick.ts --dir /tmp/e4 --pack \
 *     --contenders pgfleet4-reader,sql-pg-off,driver-node-postgres --rounds 7 --ms 2000
 *   ... --prof /tmp/e4/prof --no-raw --contenders pgfleet4-reader   (node --cpu-prof, one contender alone)
 *   ... --fake-wire --contenders pgfleet4-reader,driver-node-postgres   (the drivers answer the two
 *       benchmark statements themselves: the libraries' own CPU, without socket or protocol; see effect4-run.mjs)
 *   ... --fake-wire --own-process 3 --contenders sql-pg-off,pgfleet4-reader-sql-pg-off   (each contender
 *       alone in a process, 3 processes each, alternated: CPU µs/statement medians, and each ÷ the first)
 *
 * `--pack` builds @pgfleet/effect4, packs it (and @pgfleet/core, the first time) into `--dir` and
 * installs the tarballs there with npm beside the pinned effect 4 and @effect/sql-pg 4.
 * `--before <tgz>` installs a tarball of an earlier @pgfleet/effect4 whose package.json names it
 * `@pgfleet/effect4-before`, for the contenders `pgfleet4-reader-before` (node-postgres) and
 * `pgfleet4-reader-before-sql-pg-off` / `-on` (DB_DRIVER=sql-pg): before and after alternated in one process.
 */
import { startTestCluster } from "@pgfleet/testing"
import { execFileSync, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as Installed from "./installed.js"
import { median } from "./measure.js"

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.resolve(here, "../../..")
const args = process.argv.slice(2)
const flag = (name: string) => args.includes(name)
const option = (name: string, fallback: string) => {
  const i = args.indexOf(name)
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : fallback
}

const dir = path.resolve(option("--dir", "/tmp/pgfleet-effect4-quick"))
const contenders = option("--contenders", "pgfleet4-reader,sql-pg-off,driver-node-postgres").split(",")
const rounds = Number(option("--rounds", "5"))
const ms = Number(option("--ms", "2000"))
const prof = args.includes("--prof") ? path.resolve(option("--prof", "")) : undefined
const ROWS = 100_000

const pack = () => {
  fs.mkdirSync(dir, { recursive: true })
  const effect4 = path.join(root, "packages/effect4")
  execFileSync("pnpm", ["run", "build"], { cwd: effect4, stdio: "inherit" })
  const packOne = (name: string) =>
    execFileSync("pnpm", ["pack", "--pack-destination", dir], {
      cwd: path.join(root, "packages", name),
      encoding: "utf8"
    })
      .trim().split("\n").at(-1)!
  const core = fs.readdirSync(dir).find((f) => f.startsWith("pgfleet-core-") && f.endsWith(".tgz"))
  const tarballs = [core ? path.join(dir, core) : packOne("core"), packOne("effect4")]
  const pkg = JSON.parse(fs.readFileSync(path.join(effect4, "package.json"), "utf8")) as {
    devDependencies: Record<string, string>
  }
  const peers = ["effect", "@effect/sql-pg"].map((name) => `${name}@${pkg.devDependencies[name]}`)
  if (!fs.existsSync(path.join(dir, "package.json"))) {
    fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name: "bench4", private: true, type: "module" }))
  }
  // A tarball of the same name and version is cached by npm: remove the installed copy first.
  fs.rmSync(path.join(dir, "node_modules/@pgfleet/effect4"), { recursive: true, force: true })
  execFileSync("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error", ...tarballs, ...peers], {
    cwd: dir,
    stdio: "inherit"
  })
}

/**
 * `--fake-wire` on sql-pg 4: its `PgPool.use` lends, without a checkout, one connection of its own that
 * answers the statements in `globalThis.pgfleetFakeWire` on the next turn of the event loop, and sends
 * any other statement through a real checkout (probes, warm-up). Left with the pool's checkout in it,
 * the same measure spread ±25% between processes. Patched into this installed copy only, once; without
 * the global it behaves as shipped.
 */
const patchPgPool = () => {
  const file = path.join(dir, "node_modules/@effect/sql-pg/dist/PgPool.js")
  const source = fs.readFileSync(file, "utf8")
  const marker = "/* pgfleet bench: fake wire */"
  if (source.includes(marker)) return
  const lent = "    use,\n"
  if (!source.includes(lent)) throw new Error(`${file}: no "use," in the pool object to patch`)
  const fake = `${marker} (() => {
    const answer = (method) => (sql, params, prepare) => {
      const result = globalThis.pgfleetFakeWire[sql];
      return result === undefined ? use((connection) => connection[method](sql, params, prepare))
        : Effect.callback((resume) => void setImmediate(() => resume(Effect.succeed(result))));
    };
    const fake = { query: answer("query"), queryValues: answer("queryValues") };
    return (f) => globalThis.pgfleetFakeWire === undefined ? use(f) : f(fake);
  })()`
  fs.writeFileSync(file, source.replace(lent, `    use: ${fake},\n`))
}

/** Runs effect4-run.mjs with `config`, and gives its runs. */
const runChild = (config: object, nodeArgs: ReadonlyArray<string>) =>
  new Promise<ReadonlyArray<Installed.Run>>((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeArgs, "effect4-run.mjs", JSON.stringify(config)], {
      cwd: dir,
      stdio: ["ignore", "pipe", "inherit"]
    })
    let out = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (out += chunk))
    child.on("error", reject)
    child.on("close", (code) =>
      code === 0
        ? resolve((JSON.parse(out.trim().split("\n").at(-1)!) as { runs: ReadonlyArray<Installed.Run> }).runs)
        : reject(new Error(`effect4-run.mjs exited with ${code}`)))
  })

/**
 * `--own-process N`: each contender alone in a process (no raw pg beside it), N processes each,
 * alternated; per workload, the median over every round of every process of its CPU µs per statement.
 */
const ownProcesses = async (config: { readonly workloads: ReadonlyArray<string> }, times: number) => {
  const cpu = new Map<string, Array<number>>()
  for (let i = 0; i < times; i++) {
    for (const key of contenders) {
      const runs = await runChild({ ...config, contenders: [key], withoutRaw: true }, [])
      for (const r of runs) {
        const id = `${r.workload} ${key}`
        cpu.set(id, [...(cpu.get(id) ?? []), r.cpuUs])
        console.error(`[own process ${i + 1}/${times}] ${id}: ${r.cpuUs.toFixed(2)} µs`)
      }
    }
  }
  for (const workload of config.workloads) {
    const first = median(cpu.get(`${workload} ${contenders[0]}`) ?? [])
    console.log(`\n${workload}: CPU µs/statement, each contender alone, ${times} processes, medians of rounds`)
    for (const key of contenders) {
      const c = median(cpu.get(`${workload} ${key}`) ?? [])
      console.log(`  ${key.padEnd(28)} ${c.toFixed(2).padStart(7)}  ÷ ${contenders[0]} ${(c / first).toFixed(2)}`)
    }
  }
}

const main = async () => {
  if (flag("--pack") || !fs.existsSync(path.join(dir, "node_modules/@pgfleet/effect4"))) pack()
  if (flag("--fake-wire")) patchPgPool()
  if (flag("--before")) {
    fs.rmSync(path.join(dir, "node_modules/@pgfleet/effect4-before"), { recursive: true, force: true })
    execFileSync("npm", [
      "install",
      "--no-audit",
      "--no-fund",
      "--loglevel=error",
      path.resolve(option("--before", ""))
    ], {
      cwd: dir,
      stdio: "inherit"
    })
  }
  Installed.copyScript("effect4-run.mjs", dir)
  const cluster = await startTestCluster({ replicas: 1 })
  try {
    await cluster.query("writer", "CREATE TABLE kv (id int PRIMARY KEY, v text NOT NULL)")
    await cluster.query("writer", `INSERT INTO kv SELECT g, md5(g::text) FROM generate_series(1, ${ROWS}) AS g`)
    await cluster.query("writer", "ANALYZE kv")
    await cluster.waitForReplication()
    const config = {
      contenders,
      withoutRaw: flag("--no-raw"),
      fakeWire: flag("--fake-wire"),
      workloads: option("--workloads", "select1,pk-lookup").split(","),
      cluster: Installed.clusterForChild(cluster),
      replicas: 1,
      rounds,
      ms,
      callers: 32,
      pool: 8,
      rows: ROWS
    }
    if (flag("--own-process")) return await ownProcesses(config, Number(option("--own-process", "3")))
    const nodeArgs = prof === undefined ? [] : ["--cpu-prof", `--cpu-prof-dir=${prof}`]
    const runs = await runChild(config, nodeArgs)
    if (flag("--no-raw")) return
    const rows = Installed.rows("one replica, effect 4", `raw pg + ${contenders.join(", ")}`, runs)
    console.log(Installed.markdown(rows))
    // CPU per statement: medians of rounds, ÷ raw pg and ÷ sql-pg 4 PgClient (multiplex off) when it ran.
    for (const workload of config.workloads) {
      const cpu = (key: string) =>
        median(runs.filter((r) => r.workload === workload && r.key === key).map((r) => r.cpuUs))
      const raw = cpu("raw-pg")
      const sqlPg = contenders.includes("sql-pg-off") ? cpu("sql-pg-off") : NaN
      console.log(`\n${workload}: CPU µs/statement, medians of ${rounds} rounds`)
      for (const key of ["raw-pg", ...contenders]) {
        const c = cpu(key)
        console.log(
          `  ${key.padEnd(22)} ${c.toFixed(1).padStart(7)}  ÷ raw ${(c / raw).toFixed(2)}  ÷ sql-pg-off ${
            (c / sqlPg).toFixed(2)
          }`
        )
      }
    }
  } finally {
    await cluster.stop()
  }
}

main().catch((e) => {
  console.error(e)
  process.exitCode = 1
})
