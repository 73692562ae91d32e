// The Effect 3 reader's statement path, before and after: this checkout's packed @pgfleet/core,
// @pgfleet/postgres and @pgfleet/testing installed with npm into an empty project, a copy of that project
// with an older checkout's built dists, and plain-node processes of each in turn (`--processes`, 3 each),
// every process alone with its own effect, alternating raw pg.Pool, the Effect floor (Effect.async around
// pool.query) and its reader: one replica, 32 fibers, pools of 8; reads/s and client CPU µs per
// statement, each ÷ raw pg in the same round, medians of all rounds of a build. The statement is
// `SELECT 1`, or with `--workload lookup` a one-row lookup by a parameter (of pg_class, which every
// server has). `--fake-wire`: node-postgres's client answers it itself (packages/bench/src/fakeWire.mjs),
// so the CPU per statement is the libraries' own, without socket, protocol or server. `--bisect` adds two
// floors on the reader's own pg.Pool: `floorPool` (Effect.async around its `query`) and `floorRun`
// (Effect.async around @pgfleet/core's PooledQuery.runPooled on it), to tell the pool and the pooled
// query apart from the Effect client's own work.
//   pnpm build && git worktree add /tmp/old <rev> && (cd /tmp/old && pnpm install --offline &&
//   pnpm --filter @pgfleet/core --filter @pgfleet/postgres build)
//   node scripts/statement-path-ab.mjs --before /tmp/old [--processes 3] [--rounds 5] [--seconds 2] [--workload lookup]
//   [--fake-wire] [--bisect]
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
if (before === undefined) {
  throw new Error("--before DIR: a checkout whose packages/core and packages/postgres are built");
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
log(`the same install with ${before}'s core and postgres dists, in ${work}/before`);
const old = path.join(work, "before");
fs.mkdirSync(old);
fs.cpSync(path.join(after, "node_modules"), path.join(old, "node_modules"), { recursive: true });
for (const name of ["core", "postgres"]) {
  const dist = path.join(old, "node_modules/@pgfleet", name, "dist");
  fs.rmSync(dist, { recursive: true });
  fs.cpSync(path.join(before, "packages", name, "dist"), dist, { recursive: true });
}
// One script for both builds, beside the projects: each process loads only its own project's modules.
for (const file of ["scripts/statement-path-ab.run.mjs", "packages/bench/src/fakeWire.mjs"]) {
  fs.copyFileSync(path.join(root, file), path.join(work, path.basename(file)));
}
const wire = process.argv.includes("--fake-wire") ? "fake" : "real";
const workload = arg("--workload", "select1");
const rounds = { after: [], before: [] };
for (let p = 1; p <= Number(arg("--processes", "3")); p++) {
  for (const [label, project] of [["after", after], ["before", old]]) {
    log(`process ${p}, ${label}`);
    const out = execFileSync("node", [
      path.join(work, "statement-path-ab.run.mjs"),
      project,
      arg("--rounds", "5"),
      arg("--seconds", "2"),
      workload,
      wire,
      process.argv.includes("--bisect") ? "bisect" : "",
    ], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
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
fs.rmSync(work, { recursive: true, force: true });
