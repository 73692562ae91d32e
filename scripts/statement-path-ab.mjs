// The Effect 3 reader's statement path, before and after: this checkout's packed @pgfleet/core,
// @pgfleet/postgres and @pgfleet/testing installed with npm into an empty project, an older checkout's
// built dists installed beside them, and one plain-node process alternating raw pg.Pool, the Effect
// floor (Effect.async around pool.query), the older reader and this one: one replica, 32 fibers,
// pools of 8, medians of rounds; reads/s and client CPU µs per statement, each ÷ raw pg. The statement
// is `SELECT 1`, or with `--workload lookup` a one-row lookup by a parameter (of pg_class, which every
// server has). `--fake-wire`: node-postgres's client answers it itself (packages/bench/src/fakeWire.mjs),
// so the CPU per statement is the libraries' own, without socket, protocol or server.
// The older build runs on a second copy of effect in the same process, and is slowed by it: with the
// same build on both sides (fake wire, SELECT 1), "before" took 9.7 µs a statement and "after" 5.6. Its
// figures are not comparable with the others'; "after" against raw pg and the floor are.
//   pnpm build && git worktree add /tmp/old <rev> && (cd /tmp/old && pnpm install --offline &&
//   pnpm --filter @pgfleet/core --filter @pgfleet/postgres build)
//   node scripts/statement-path-ab.mjs --before /tmp/old [--rounds 7] [--seconds 2] [--workload lookup] [--fake-wire]
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
fs.writeFileSync(
  path.join(after, "ab.mjs"),
  fs.readFileSync(path.join(import.meta.dirname, "statement-path-ab.run.mjs"), "utf8"),
);
fs.copyFileSync(path.join(root, "packages/bench/src/fakeWire.mjs"), path.join(after, "fakeWire.mjs"));
const wire = process.argv.includes("--fake-wire") ? "fake" : "real";
execFileSync("node", ["ab.mjs", old, arg("--rounds", "7"), arg("--seconds", "2"), arg("--workload", "select1"), wire], {
  cwd: after,
  stdio: "inherit",
});
fs.rmSync(work, { recursive: true, force: true });
