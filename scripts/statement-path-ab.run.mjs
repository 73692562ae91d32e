// Run by statement-path-ab.mjs inside its empty project: node ab.mjs <before project> <rounds> <seconds> <select1|lookup> <real|fake>
import { Postgres } from "@pgfleet/postgres";
import { TestCluster } from "@pgfleet/testing";
import { ConfigProvider, Effect, Layer, ManagedRuntime } from "effect";
import pg from "pg";
import * as FakeWire from "./fakeWire.mjs";
const [beforeDir, rounds, seconds, workload, wire] = process.argv.slice(2);
const LOOKUP = "SELECT oid, relname FROM pg_class WHERE oid = $1";
const text = workload === "lookup" ? LOOKUP : "SELECT 1";
// pg_class's own row: every server has it.
const params = () => workload === "lookup" ? [1259] : undefined;
const canned = {
  "SELECT 1": FakeWire.oneRow({ "?column?": 1 }),
  [LOOKUP]: FakeWire.oneRow({ oid: 1259, relname: "pg_class" }),
};
// The older project has its own node-postgres: both are answered.
if (wire === "fake") {
  for (const driver of [pg, (await import(`${beforeDir}/node_modules/pg/lib/index.js`)).default]) {
    FakeWire.answerOnClient(driver, canned);
  }
}
const Old = await import(`${beforeDir}/node_modules/@pgfleet/postgres/dist/index.js`);
const OldEffect = await import(`${beforeDir}/node_modules/effect/dist/esm/index.js`);
const ROUNDS = Number(rounds), MS = Number(seconds) * 1000, CALLERS = 32, POOL = 8;
const cluster = await TestCluster.startTestCluster({ replicas: 1 });
const replica = cluster.readers[0];
const raw = new pg.Pool({
  host: replica.host,
  port: replica.port,
  user: cluster.username,
  database: cluster.database,
  password: cluster.env.DB_PASSWORD,
  max: POOL,
});
const env = { ...cluster.env, DB_MIN_POOL_SIZE: String(POOL), DB_MAX_POOL_SIZE: String(POOL) };
const make = (P, E) =>
  E.ManagedRuntime.make(
    P.Postgres.PostgresLive.pipe(
      E.Layer.provide(E.Layer.setConfigProvider(E.ConfigProvider.fromMap(new Map(Object.entries(env))))),
    ),
  );
const rtNew = make({ Postgres }, { ManagedRuntime, Layer, ConfigProvider }), rtOld = make(Old, OldEffect);
const pgNew = await rtNew.runPromise(Postgres.Postgres), pgOld = await rtOld.runPromise(Old.Postgres.Postgres);
const cs = await Promise.all(Array.from({ length: POOL }, () => raw.connect()));
cs.forEach((c) => c.release());
const loop = async (one) => {
  let n = 0;
  const end = performance.now() + MS;
  await Promise.all(Array.from({ length: CALLERS }, async () => {
    while (performance.now() < end) {
      await one();
      n++;
    }
  }));
  return n;
};
const effectLoop = (E, rt, one) => () =>
  rt.runPromise(E.Effect.gen(function*() {
    let n = 0;
    const end = performance.now() + MS;
    yield* E.Effect.forEach(Array.from({ length: CALLERS }), () =>
      E.Effect.whileLoop({
        while: () => performance.now() < end,
        body: () => one,
        step: () => {
          n++;
        },
      }), { concurrency: "unbounded", discard: true });
    return n;
  }));
const floorOne = Effect.suspend(() =>
  Effect.async((resume) => {
    raw.query(text, params(), (e, r) => resume(e ? Effect.fail(e) : Effect.succeed(r)));
  })
);
// A statement made per call, as code that passes its values does.
const statement = (reader) =>
  workload === "lookup" ? reader`SELECT oid, relname FROM pg_class WHERE oid = ${1259}` : reader`SELECT 1`;
const contenders = {
  raw: () => loop(() => raw.query(text, params())),
  floor: effectLoop({ Effect }, rtNew, floorOne),
  before: effectLoop(
    OldEffect,
    rtOld,
    OldEffect.Effect.suspend(() => OldEffect.Effect.asVoid(statement(pgOld.reader))),
  ),
  after: effectLoop({ Effect }, rtNew, Effect.suspend(() => Effect.asVoid(statement(pgNew.reader)))),
};
const measure = async (run) => {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const n = await run();
  const c = process.cpuUsage(c0);
  return { perSec: n / ((performance.now() - t0) / 1000), cpuUs: (c.user + c.system) / n };
};
console.log(`${text}, ${wire === "fake" ? "fake wire (fakeWire.mjs)" : "on the server"}`);
for (const run of Object.values(contenders)) await run();
const rows = [];
// Each round starts one contender later: in one process the order moves the figures.
const entries = Object.entries(contenders);
for (let r = 0; r < ROUNDS; r++) {
  const row = {};
  for (const [k, run] of [...entries.slice(r % entries.length), ...entries.slice(0, r % entries.length)]) {
    row[k] = await measure(run);
  }
  rows.push(row);
  console.log(
    Object.keys(contenders).map((k) => [k, row[k]]).map(([k, v]) =>
      `${k} ${Math.round(v.perSec)}/s ${v.cpuUs.toFixed(1)}µs`
    ).join("  "),
  );
}
const med = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
for (const k of Object.keys(contenders)) {
  console.log(
    k.padEnd(7),
    "reads/s ÷ raw",
    med(rows.map((r) => r[k].perSec / r.raw.perSec)).toFixed(2),
    " CPU ÷ raw",
    med(rows.map((r) => r[k].cpuUs / r.raw.cpuUs)).toFixed(2),
    " CPU µs",
    med(rows.map((r) => r[k].cpuUs)).toFixed(1),
  );
}
await rtNew.dispose();
await rtOld.dispose();
await raw.end();
await cluster.stop();
process.exit(0);
