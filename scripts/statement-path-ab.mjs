// The Effect 3 reader's statement path, before and after: this checkout's packed @pgfleet/core,
// @pgfleet/postgres and @pgfleet/testing installed with npm into an empty project, a copy of that project
// with an older checkout's built dists, and plain-node processes of each in turn (`--processes`, 3 each),
// every process alone with its own effect, alternating raw pg.Pool, the Effect floor (Effect.async around
// pool.query) and its reader: one replica, 32 fibers, pools of 8; reads/s and client CPU µs per
// statement, each ÷ raw pg in the same round, medians of all rounds of a build. The statement is
// `SELECT 1`, or with `--workload lookup` a one-row lookup by a parameter (of pg_class, which every
// server has). `--fake-wire`: node-postgres's client answers it itself (packages/bench/src/fakeWire.mjs),
// so the CPU per statement is the libraries' own, without socket, protocol or server. `--bisect` adds raw pg with
// its connections held and its callers queued on them (`rawHeld`: no pg-pool checkout between statements)
// and three floors on the reader's own pg.Pool: `floorPool` (Effect.async around its `query`), `floorRun`
// (Effect.async around @pgfleet/core's PooledQuery.runPooled on it) and `floorRouted` (Effect.async around
// the reader's own routed path, with its pick and metrics, without its Effect client), to tell the pool and the pooled
// query apart from the Effect client's own work. `--perf` samples each contender's rounds with Linux perf
// (the client process's threads, kernel included; Debian's `linux-perf`) and prints, per build, the CPU µs
// per statement by where it went (kernel, node, libc, the JIT's code) and the symbols where the reader
// differs most from the floor. Without `--before`, only this checkout runs.
//   pnpm build && git worktree add /tmp/old <rev> && (cd /tmp/old && pnpm install --offline &&
//   pnpm --filter @pgfleet/core --filter @pgfleet/postgres build)
//   node scripts/statement-path-ab.mjs --before /tmp/old [--processes 3] [--rounds 5] [--seconds 2] [--workload lookup]
//   [--fake-wire] [--bisect] [--perf [--symbols 25]]
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const root = path.resolve(import.meta.dirname, "..");
const arg = (name, fallback) => {
  const at = process.argv.indexOf(name);
  return at >= 0 ? process.argv[at + 1] : fallback;
};
const before = arg("--before");
if (before !== undefined && !fs.existsSync(path.join(before, "packages/postgres/dist"))) {
  throw new Error(`--before ${before}: expected a checkout whose packages/core and packages/postgres are built`);
}
const perf = process.argv.includes("--perf");
if (perf) {
  try {
    execFileSync("perf", ["--version"], { stdio: "ignore" });
  } catch {
    throw new Error("--perf: expected Linux perf on the PATH (Debian: apt-get install linux-perf)");
  }
}
const work = fs.mkdtempSync(path.join(os.tmpdir(), "pgfleet-ab-"));
const log = (message) => console.log(`[statement-path-ab] ${message}`);

log(`pack this checkout's core, postgres and testing into ${work}/after`);
const after = path.join(work, "after");
fs.mkdirSync(after);
const tarballs = ["core", "postgres", "testing"].map((name) =>
  execFileSync("pnpm", ["pack", "--pack-destination", after], {
    cwd: path.join(root, "packages", name),
    encoding: "utf8",
  })
    .trim().split("\n").at(-1)
);
fs.writeFileSync(path.join(after, "package.json"), JSON.stringify({ name: "ab", private: true, type: "module" }));
execFileSync("npm", [
  "install",
  "--no-audit",
  "--no-fund",
  ...tarballs,
  "effect@3",
  "@effect/sql@0.52",
  "@effect/sql-pg@0.53",
  "@effect/experimental@0.61",
  "@effect/platform@0.97",
], { cwd: after, stdio: "inherit" });
const builds = [["after", after]];
if (before !== undefined) {
  log(`the same install with ${before}'s core and postgres dists, in ${work}/before`);
  const old = path.join(work, "before");
  fs.mkdirSync(old);
  fs.cpSync(path.join(after, "node_modules"), path.join(old, "node_modules"), { recursive: true });
  for (const name of ["core", "postgres"]) {
    const dist = path.join(old, "node_modules/@pgfleet", name, "dist");
    fs.rmSync(dist, { recursive: true });
    fs.cpSync(path.join(before, "packages", name, "dist"), dist, { recursive: true });
  }
  builds.push(["before", old]);
}
// One script for both builds, beside the projects: each process loads only its own project's modules.
for (const file of ["scripts/statement-path-ab.run.mjs", "packages/bench/src/fakeWire.mjs"]) {
  fs.copyFileSync(path.join(root, file), path.join(work, path.basename(file)));
}
const wire = process.argv.includes("--fake-wire") ? "fake" : "real";
const workload = arg("--workload", "select1");
const rounds = Object.fromEntries(builds.map(([label]) => [label, []]));
for (let p = 1; p <= Number(arg("--processes", "3")); p++) {
  for (const [label, project] of builds) {
    log(`process ${p}, ${label}`);
    // In the work folder, which goes at the end: under --perf-basic-prof V8 writes its isolate logs there.
    const out = execFileSync("node", [
      ...(perf ? ["--perf-basic-prof"] : []),
      path.join(work, "statement-path-ab.run.mjs"),
      project,
      arg("--rounds", "5"),
      arg("--seconds", "2"),
      workload,
      wire,
      process.argv.includes("--bisect") ? "bisect" : "",
      perf ? "perf" : "",
    ], { cwd: work, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
    for (const line of out.trim().split("\n").filter((l) => l.startsWith("{"))) rounds[label].push(JSON.parse(line));
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
log(
  `${workload}, ${wire === "fake" ? "fake wire" : "on the server"}; medians of ${rounds.after.length} rounds a build`,
);
for (const [label, rows] of Object.entries(rounds)) {
  for (const k of Object.keys(rows[0]).filter((k) => k !== "raw")) {
    log(
      `${label.padEnd(6)} ${k.padEnd(10)} reads/s ÷ raw ${
        median(rows.map((r) => r[k].perSec / r.raw.perSec)).toFixed(2)
      }  CPU ÷ raw ${median(rows.map((r) => r[k].cpuUs / r.raw.cpuUs)).toFixed(2)}  CPU µs ${
        median(rows.map((r) => r[k].cpuUs)).toFixed(1)
      } (raw ${median(rows.map((r) => r.raw.cpuUs)).toFixed(1)})`,
    );
  }
}
/** One perf file's CPU µs per statement by `[dso] symbol`: its samples' shares of the round's CPU. */
const perfSymbols = (file, cpuUs) => {
  const report = execFileSync("perf", [
    "report",
    "-i",
    file,
    "--no-children",
    "--sort",
    "dso,sym",
    "-q",
    "-g",
    "none",
    "--percent-limit",
    "0",
  ], { encoding: "utf8", maxBuffer: 1 << 28, stdio: ["ignore", "pipe", "ignore"] });
  const symbols = {};
  for (const line of report.split("\n")) {
    const m = /^\s*([\d.]+)%\s+(\S+)(?: tid \d+)?\s+\[.\]\s+(.*)$/.exec(line);
    if (m === null) continue;
    // A JIT symbol from --perf-basic-prof: `JS:*name file:///…/dir/file.js:line:column`; keep name, dir/file:line.
    const symbol = m[3].replace(/^(JS|LazyCompile|Function|Builtin):[*~^+]?/, "")
      .replace(/(?:file:\/\/)?\/\S*\/([^/\s]+\/[^/\s]+?):(\d+)(?::\d+)?$/, "$1:$2").trim();
    const key = `${m[2].replace(/^\[|\]$/g, "")} ${symbol}`.slice(0, 110);
    symbols[key] = (symbols[key] ?? 0) + (Number(m[1]) * cpuUs) / 100;
  }
  return symbols;
};
if (perf) {
  const show = (us) => `${us.toFixed(2)}`.padStart(8);
  for (const [label, rows] of Object.entries(rounds)) {
    const columns = Object.keys(rows[0]);
    const mean = (pick) =>
      Object.fromEntries(columns.map((k) => {
        const sums = {};
        for (const r of rows) {
          for (const [key, us] of Object.entries(pick(r[k]))) sums[key] = (sums[key] ?? 0) + us / rows.length;
        }
        return [k, sums];
      }));
    const bySymbol = mean((figures) => perfSymbols(figures.perf, figures.cpuUs));
    const byPlace = Object.fromEntries(columns.map((k) => {
      const places = {};
      for (const [key, us] of Object.entries(bySymbol[k])) {
        const place = key.split(" ")[0];
        places[place] = (places[place] ?? 0) + us;
      }
      return [k, places];
    }));
    const table = (title, sums, count) => {
      const keys = [...new Set(columns.flatMap((k) => Object.keys(sums[k])))]
        .map((key) => [key, (sums.reader[key] ?? 0) - (sums.floor[key] ?? 0)])
        .sort((a, b) => Math.abs(b[1]) - Math.abs(a[1]))
        .slice(0, count);
      log(`${label}: ${title}, CPU µs per statement, mean of ${rows.length} rounds`);
      log(`${"reader − floor".padStart(14)} ${columns.map((k) => k.padStart(8)).join(" ")}`);
      for (const [key, difference] of keys) {
        log(`${show(difference).padStart(14)} ${columns.map((k) => show(sums[k][key] ?? 0)).join(" ")}  ${key}`);
      }
    };
    table("where it went", byPlace, 8);
    table("the symbols where the reader differs most from the floor", bySymbol, Number(arg("--symbols", "25")));
  }
  // Each process's perf files, and the map of its JIT's code that --perf-basic-prof wrote to /tmp.
  for (const rows of Object.values(rounds)) {
    for (const { perf: file } of rows.flatMap((r) => Object.values(r))) {
      fs.rmSync(file, { force: true });
      fs.rmSync(`/tmp/perf-${/perf-(\d+)-/.exec(path.basename(file))[1]}.map`, { force: true });
    }
  }
}
fs.rmSync(work, { recursive: true, force: true });
