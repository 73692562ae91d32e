// The top self-time frames of a V8 .cpuprofile (node --cpu-prof): `node cpuprofile-top.mjs <file> [n]`.
// Prints each frame's share of the sampled time, with its function, file (last two path parts) and line.
import * as fs from "node:fs";

const [file, count = "30"] = process.argv.slice(2);
const profile = JSON.parse(fs.readFileSync(file, "utf8"));
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const self = new Map();
const urls = new Map();
const dt = profile.timeDeltas;
let total = 0;
profile.samples.forEach((id, i) => {
  const n = byId.get(id);
  const { functionName, url, lineNumber } = n.callFrame;
  const where = url ? url.split("/").slice(-2).join("/") : "";
  const key = `${functionName || "(anonymous)"}  ${where}:${lineNumber + 1}`;
  const d = dt[i] ?? 0;
  self.set(key, (self.get(key) ?? 0) + d);
  urls.set(key, url);
  total += d;
});
const idle = [...self].filter(([k]) => k.startsWith("(idle)")).reduce((a, [, v]) => a + v, 0);
console.log(`total ${(total / 1000).toFixed(0)} ms sampled, idle ${(idle / 1000).toFixed(0)} ms`);
for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, Number(count))) {
  console.log(`${((100 * v) / (total - idle)).toFixed(1).padStart(5)}%  ${(v / 1000).toFixed(0).padStart(6)} ms  ${k}`);
}

// By package: the self time under each node_modules package (or node's own, or the script).
const byPackage = new Map();
for (const [k, v] of self) {
  const url = urls.get(k) ?? "";
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  const name = m ? m[1] : url === "" || url.startsWith("node:") ? "(node/v8)" : url.split("/").at(-1);
  byPackage.set(name, (byPackage.get(name) ?? 0) + v);
}
console.log("\nby package (self time):");
for (const [k, v] of [...byPackage].sort((a, b) => b[1] - a[1]).slice(0, 12)) {
  console.log(`${((100 * v) / (total - idle)).toFixed(1).padStart(5)}%  ${(v / 1000).toFixed(0).padStart(6)} ms  ${k}`);
}
