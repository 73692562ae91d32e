// The house from the code's own imports: which way the imports run, and the map of the code.
//
//   node scripts/house.mjs            the package graph, each package's files in reading order with
//                                     line counts, and every import that runs against the data's way
//   node scripts/house.mjs --rooms    the same count for any checkout, old ones too: rooms are folders
//                                     and top-level files, and an arrow runs back up when it lies on a
//                                     cycle of rooms (--root DIR to measure another checkout)
//   node scripts/house.mjs --longest  the five longest functions of each package (--root works here too)
//   node scripts/house.mjs --write    renders each package's "map of the code" into its README
//   node scripts/house.mjs --check    fails on an import against the data's way, a file missing from
//                                     the table below, or a README map that is out of date (CI)
import * as fs from "node:fs"
import * as path from "node:path"
import ts from "typescript"

/**
 * The data's way, one package after another and, inside each, one level after another. A file may
 * import files of its own entry and of entries above it in this list, never below. A folder entry
 * holds the internals that serve the public module listed right after it.
 */
const WAY = {
  core: [
    ["Failure.ts"],
    ["Settings.ts"],
    ["Credentials.ts"],
    ["Connection.ts"],
    ["internal/lane.ts", "PooledQuery.ts"],
    ["PoolControl.ts"],
    ["Probe.ts"],
    ["HostState.ts"],
    ["Election.ts"],
    ["Members.ts"],
    ["ReaderPick.ts"],
    ["Routing.ts"],
    ["StatementClass.ts"],
    ["StatementText.ts"],
    ["Check.ts"],
    ["index.ts"]
  ],
  postgres: [
    ["PostgresError.ts"],
    ["internal/passwordProvider.ts", "internal/postgresConfig.ts", "PostgresConfig.ts"],
    ["internal/metricHooks.ts", "PostgresMetrics.ts"],
    ["HostPool.ts"],
    ["WriterPool.ts"],
    ["ReaderPools.ts"],
    ["internal/healthMonitor/", "HealthMonitor.ts"],
    ["ReaderStrategy.ts"],
    ["ReaderRouter.ts"],
    ["StatementClassifier.ts"],
    ["internal/postgres/", "Postgres.ts"],
    ["internal/fleet/", "Fleet.ts"],
    ["Legacy.ts"],
    ["internal/postgresTelemetry.ts", "PostgresTelemetry.ts"],
    ["bin/"],
    ["telemetry.ts"],
    ["index.ts"]
  ],
  effect4: [
    ["PostgresError.ts"],
    ["internal/postgresConfig.ts", "PostgresConfig.ts"],
    ["PostgresMetrics.ts"],
    ["internal/sqlPgAdmission.ts", "internal/sqlPgPool.ts", "HostPool.ts"],
    ["WriterPool.ts"],
    ["ReaderPools.ts"],
    ["internal/healthMonitor/", "HealthMonitor.ts"],
    ["ReaderStrategy.ts"],
    ["ReaderRouter.ts"],
    ["StatementClassifier.ts"],
    ["internal/postgres/", "Postgres.ts"],
    ["index.ts"]
  ],
  testing: [
    ["internal/"],
    ["Eventually.ts"],
    ["TcpProxy.ts"],
    ["TestCluster.ts"],
    ["Load.ts"],
    ["PostgresTest.ts"],
    ["index.ts"]
  ],
  pg: [
    ["Fleet.ts"],
    ["Legacy.ts"],
    ["testing.ts"],
    ["bin/"],
    ["index.ts"]
  ]
}
const PACKAGES = Object.keys(WAY)

const args = process.argv.slice(2)
const rootArg = args.indexOf("--root")
const root = path.resolve(rootArg >= 0 ? args[rootArg + 1] : path.join(import.meta.dirname, ".."))

const walk = (dir) =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(path.join(dir, e.name)) : e.name.endsWith(".ts") ? [path.join(dir, e.name)] : []
  )

const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^"';]*?from\s*"([^"]+)"|import\("([^"]+)"\)/g
/** Every file of a package's src/, with what it imports (resolved files, and other @pgfleet packages). */
const readPackage = (name) => {
  const src = path.join(root, "packages", name, "src")
  if (!fs.existsSync(src)) return []
  return walk(src).map((file) => {
    const text = fs.readFileSync(file, "utf8")
    // Examples in doc comments import the package itself: read code only.
    const code = text.replace(/\/\*\*[\s\S]*?\*\//g, "")
    const imports = []
    for (const m of code.matchAll(IMPORT)) {
      const spec = m[1] ?? m[2]
      if (spec.startsWith(".")) imports.push({ file: path.resolve(path.dirname(file), spec.replace(/\.js$/, ".ts")) })
      else if (spec.startsWith("@pgfleet/")) imports.push({ pkg: spec.split("/")[1] })
    }
    return { file, rel: path.relative(src, file), lines: text.split("\n").length - 1, imports, text }
  })
}

const entryOf = (name, rel) => {
  const way = WAY[name] ?? []
  for (let i = 0; i < way.length; i++) {
    if (way[i].some((p) => p.endsWith("/") ? rel.startsWith(p) : rel === p)) return i
  }
  return -1
}

const packages = PACKAGES.map((name) => ({ name, files: readPackage(name) })).filter((p) => p.files.length > 0)

/** Arrows between rooms (top-level files and folders) that lie on a cycle of rooms. */
const roomCycles = (files) => {
  const src = path.dirname(files.find((f) => !f.rel.includes("/"))?.file ?? files[0].file)
  const roomOf = (rel) => path.dirname(rel) === "." ? rel : path.dirname(rel) + "/"
  const edges = new Map()
  for (const f of files) {
    for (const i of f.imports) {
      if (i.file === undefined) continue
      const from = roomOf(f.rel)
      const to = roomOf(path.relative(src, i.file))
      if (from !== to) edges.set(`${from} -> ${to}`, [from, to])
    }
  }
  const reaches = (a, b, seen = new Set()) => {
    if (a === b) return true
    if (seen.has(a)) return false
    seen.add(a)
    return [...edges.values()].some(([x, y]) => x === a && reaches(y, b, seen))
  }
  return [...edges.values()].filter(([from, to]) => reaches(to, from)).map(([from, to]) => `${from} -> ${to}`)
}

/** Functions (declarations, arrows, methods) by the lines they span, longest first. */
const longestFunctions = (files, count) => {
  const found = []
  for (const f of files) {
    const source = ts.createSourceFile(f.rel, f.text, ts.ScriptTarget.Latest, true)
    const visit = (node) => {
      if (ts.isFunctionLike(node) && "body" in node && node.body !== undefined) {
        const line = (pos) => source.getLineAndCharacterOfPosition(pos).line
        const name = node.name?.getText(source) ??
          (ts.isVariableDeclaration(node.parent) || ts.isPropertyAssignment(node.parent)
            ? node.parent.name.getText(source)
            : "(anonymous)")
        const start = line(node.getStart(source))
        found.push({ file: f.rel, start, where: `${f.rel}:${start + 1} ${name}`, lines: line(node.end) - start + 1 })
      }
      ts.forEachChild(node, visit)
    }
    visit(source)
  }
  // A function whose whole body is another (make = () => Effect.gen(function*() { ... })) counts once.
  const outer = found.filter((fn) =>
    !found.some((o) => o !== fn && o.file === fn.file && o.start <= fn.start && o.start + o.lines >= fn.start + fn.lines &&
      o.lines - fn.lines <= 4 && o.start < fn.start)
  )
  return outer.sort((a, b) => b.lines - a.lines).slice(0, count)
}

const problems = []
const report = []
report.push("package graph (an arrow: imports):")
for (const p of packages) {
  const deps = [...new Set(p.files.flatMap((f) => f.imports.flatMap((i) => i.pkg && i.pkg !== p.name ? [i.pkg] : [])))]
  report.push(`  @pgfleet/${p.name} -> ${deps.length ? deps.map((d) => `@pgfleet/${d}`).join(", ") : "(none)"}`)
  for (const d of deps) {
    if (PACKAGES.indexOf(d) > PACKAGES.indexOf(p.name)) problems.push(`@pgfleet/${p.name} imports @pgfleet/${d}`)
  }
}

let against = 0
let cycleArrows = 0
for (const p of packages) {
  const total = p.files.reduce((n, f) => n + f.lines, 0)
  report.push(`\n@pgfleet/${p.name}: ${p.files.length} files, ${total} lines, in reading order:`)
  const sorted = [...p.files].sort((a, b) =>
    entryOf(p.name, a.rel) - entryOf(p.name, b.rel) || a.rel.localeCompare(b.rel)
  )
  for (const f of sorted) report.push(`  ${String(f.lines).padStart(5)}  ${f.rel}`)
  if (args.includes("--longest")) {
    for (const fn of longestFunctions(p.files, 5)) report.push(`  longest: ${String(fn.lines).padStart(4)} lines  ${fn.where}`)
  }
  if (args.includes("--rooms")) {
    const cycles = roomCycles(p.files)
    cycleArrows += cycles.length
    for (const c of cycles) report.push(`  on a cycle of rooms: ${c}`)
    continue
  }
  for (const f of p.files) {
    const at = entryOf(p.name, f.rel)
    if (at < 0) {
      problems.push(`${p.name}/src/${f.rel} is in no entry of the data's way (scripts/house.mjs)`)
      continue
    }
    for (const i of f.imports) {
      if (i.file === undefined) continue
      const target = path.relative(path.join(root, "packages", p.name, "src"), i.file)
      if (entryOf(p.name, target) > at) {
        against++
        problems.push(`${p.name}/src/${f.rel} imports ${target}, which comes later on the data's way`)
      }
    }
  }
}
report.push(
  args.includes("--rooms")
    ? `\narrows on cycles of rooms: ${cycleArrows}`
    : `\nimports against the data's way: ${against}`,
)

/** First sentence of a file's module doc comment (or its first comment line). */
const summary = (text, rel) => {
  if (rel.endsWith("index.ts")) return "the package's exports, one namespace per module"
  const doc = /^(?:#!.*\n)?\s*\/\*\*([\s\S]*?)\*\//.exec(text)
  if (doc === null) return ""
  const prose = doc[1].split("\n").map((l) => l.replace(/^\s*\*\s?/, "")).filter((l) => !l.startsWith("@"))
    .join(" ").split("```")[0]
  const first = prose.replace(/\s+/g, " ").trim().split(/(?<=\.)\s/)[0] ?? ""
  return first.replace(/\.$/, "")
}
const START = "<!-- code map: rendered by `node scripts/house.mjs --write` -->"
const END = "<!-- end of the code map -->"
const mapOf = (p) =>
  [
    START,
    "",
    "| file | lines | what it holds |",
    "| --- | --- | --- |",
    ...[...p.files]
      .sort((a, b) => entryOf(p.name, a.rel) - entryOf(p.name, b.rel) || a.rel.localeCompare(b.rel))
      .map((f) => `| \`src/${f.rel}\` | ${f.lines} | ${summary(f.text, f.rel).replace(/\|/g, "\\|")} |`),
    "",
    END,
  ].join("\n")

for (const p of packages) {
  const readme = path.join(root, "packages", p.name, "README.md")
  if (!fs.existsSync(readme)) continue
  const text = fs.readFileSync(readme, "utf8")
  const at = text.indexOf(START)
  const end = text.indexOf(END)
  if (at < 0 || end < 0) continue
  const rendered = text.slice(0, at) + mapOf(p) + text.slice(end + END.length)
  if (args.includes("--write")) fs.writeFileSync(readme, rendered)
  else if (rendered !== text) problems.push(`packages/${p.name}/README.md: the map of the code is out of date`)
}

console.log(report.join("\n"))
if (problems.length > 0) {
  console.log(`\n${problems.join("\n")}`)
  if (args.includes("--check")) process.exit(1)
}
