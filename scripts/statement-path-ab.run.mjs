// Run by statement-path-ab.mjs, once per process: node statement-path-ab.run.mjs <project> <rounds> <seconds>
// <select1|lookup> <real|fake> [bisect] [perf]. Loads pgfleet, effect, pg and the test cluster from
// <project>'s own node_modules, runs raw pg.Pool, the Effect floor and that project's reader alternated, and
// prints each round's figures as one JSON line; with `perf`, each contender's round is sampled by Linux perf
// into a file the line names.
import { spawn } from "node:child_process";
import * as FakeWire from "./fakeWire.mjs";

const [project, rounds, seconds, workload, wire, bisect, perf] = process.argv.slice(2);
const from = (file) => import(`${project}/node_modules/${file}`);
const { Postgres, ReaderPools } = await from("@pgfleet/postgres/dist/index.js");
const { PooledQuery } = await from("@pgfleet/core/dist/index.js");
// `bisect`'s floorRouted: the reader's own statement path, without its Effect client around it.
const { pathOf } = await from("@pgfleet/postgres/dist/internal/postgres/fleetClient.js");
const RoutedQuery = await from("@pgfleet/postgres/dist/internal/postgres/routedQuery.js");
const { TestCluster } = await from("@pgfleet/testing/dist/index.js");
const { ConfigProvider, Effect, Layer, ManagedRuntime } = await from("effect/dist/esm/index.js");
const pg = (await from("pg/lib/index.js")).default;

const LOOKUP = "SELECT oid, relname FROM pg_class WHERE oid = $1";
const text = workload === "lookup" ? LOOKUP : "SELECT 1";
// pg_class's own row: every server has it.
const params = () => workload === "lookup" ? [1259] : undefined;
if (wire === "fake") {
  FakeWire.answerOnClient(pg, {
    "SELECT 1": FakeWire.oneRow({ "?column?": 1 }),
    [LOOKUP]: FakeWire.oneRow({ oid: 1259, relname: "pg_class" }),
  });
}
const MS = Number(seconds) * 1000, CALLERS = 32, POOL = 8;
const cluster = await TestCluster.startTestCluster({ replicas: 1 });
const replica = cluster.readers[0];
const rawConfig = {
  host: replica.host,
  port: replica.port,
  user: cluster.username,
  database: cluster.database,
  password: cluster.env.DB_PASSWORD,
  max: POOL,
};
const raw = new pg.Pool(rawConfig);
const env = { ...cluster.env, DB_MIN_POOL_SIZE: String(POOL), DB_MAX_POOL_SIZE: String(POOL) };
const runtime = ManagedRuntime.make(
  Postgres.PostgresLive.pipe(
    Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))),
  ),
);
const fleet = await runtime.runPromise(Postgres.Postgres);
// The reader's own pool, for the floors of `bisect`.
const readerPool = (await runtime.runPromise(ReaderPools.ReaderPools))[0].pgPool;
// `bisect`'s rawHeld: raw pg with its connections held and its callers queued on them, no pg-pool between
// statements, to tell pg-pool's checkout and release apart from the rest.
const heldPool = new pg.Pool(rawConfig);
const held = bisect === "bisect" ? await Promise.all(Array.from({ length: POOL }, () => heldPool.connect())) : [];
const free = [...held];
const waiters = [];
const withHeld = (use) => free.length > 0 ? use(free.pop()) : waiters.push(use);
const giveHeld = (client) => waiters.length > 0 ? waiters.shift()(client) : free.push(client);
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
const effectLoop = (one) => () =>
  runtime.runPromise(Effect.gen(function*() {
    let n = 0;
    const end = performance.now() + MS;
    yield* Effect.forEach(Array.from({ length: CALLERS }), () =>
      Effect.whileLoop({
        while: () => performance.now() < end,
        body: () => one,
        step: () => {
          n++;
        },
      }), { concurrency: "unbounded", discard: true });
    return n;
  }));
// A statement made per call, as code that passes its values does.
const statement = () =>
  workload === "lookup" ? fleet.reader`SELECT oid, relname FROM pg_class WHERE oid = ${1259}` : fleet.reader`SELECT 1`;
/** Effect's floor: one `Effect.async` around a callback query. */
const floorOn = (query) =>
  effectLoop(Effect.suspend(() =>
    Effect.async((resume) => {
      query((e, r) => resume(e ? Effect.fail(e) : Effect.succeed(r)));
    })
  ));
const contenders = {
  raw: () => loop(() => raw.query(text, params())),
  floor: floorOn((done) => raw.query(text, params(), done)),
  ...(bisect === "bisect"
    ? {
      rawHeld: () =>
        loop(() =>
          new Promise((resolve, reject) =>
            withHeld((client) =>
              client.query(text, params(), (e, r) => {
                giveHeld(client);
                e ? reject(e) : resolve(r);
              })
            )
          )
        ),
      floorPool: floorOn((done) => readerPool.query(text, params(), done)),
      floorRun: floorOn((done) => {
        const values = params();
        PooledQuery.runPooled(readerPool, (client, callback) => client.query(text, values, callback), done);
      }),
      floorRouted: floorOn((done) => {
        const values = params();
        RoutedQuery.run(
          pathOf(fleet.reader),
          "execute",
          text,
          (client, callback) => client.query(text, values, callback),
          undefined,
          undefined,
          (cause) => cause,
          (error, result) => done(error, result),
        );
      }),
    }
    : {}),
  reader: effectLoop(Effect.suspend(() => Effect.asVoid(statement()))),
};
/**
 * With `perf`: Linux perf samples this process (all its threads, kernel included, not the servers) into
 * `file` until the returned stop is called; the parent reads it (`node --perf-basic-prof` names the JIT's code).
 */
const startPerf = async (file) => {
  const recorder = spawn("perf", [
    "record",
    "-q",
    "-g",
    "-e",
    "cpu-clock",
    "-F",
    "2000",
    "-p",
    String(process.pid),
    "-o",
    file,
  ], {
    stdio: "ignore",
  });
  // perf attaches in well under this; a round is seconds long.
  await new Promise((resolve) => setTimeout(resolve, 300));
  return async () => {
    recorder.kill("SIGINT");
    await new Promise((resolve) => recorder.once("exit", resolve));
  };
};
let recorded = 0;
const measure = async (run) => {
  const file = perf === "perf" ? `${project}/perf-${process.pid}-${++recorded}.data` : undefined;
  // Attached before the clocks start and stopped after they end: neither counts in the round's figures.
  const stopPerf = file === undefined ? undefined : await startPerf(file);
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const n = await run();
  const c = process.cpuUsage(c0);
  const figures = { perSec: n / ((performance.now() - t0) / 1000), cpuUs: (c.user + c.system) / n };
  if (stopPerf === undefined) return figures;
  await stopPerf();
  return { ...figures, perf: file };
};
for (const run of Object.values(contenders)) await run();
// Each round starts one contender later: in one process the order moves the figures.
const entries = Object.entries(contenders);
for (let r = 0; r < Number(rounds); r++) {
  const row = {};
  for (const [k, run] of [...entries.slice(r % entries.length), ...entries.slice(0, r % entries.length)]) {
    row[k] = await measure(run);
  }
  console.log(JSON.stringify(row));
}
held.forEach((client) => client.release());
await heldPool.end();
await runtime.dispose();
await raw.end();
await cluster.stop();
process.exit(0);
