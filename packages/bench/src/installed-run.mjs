// One client process of `pnpm bench`'s throughput table, as users run it: plain `node`, in an empty
// project where the packed @pgfleet tarballs were installed with npm (src/installed.ts). It runs
// raw pg beside the contenders it is given, alternated (raw, X, raw, X, ...), and prints each run's
// figures as JSON. `pnpm bench` gives it ONE contender, so every figure comes from a process with
// only raw pg beside it, as a user's process has pgfleet alone; `--mixed` gives it several.
//   node installed-run.mjs '<json: see `config` below>'
import * as Reactivity from "@effect/experimental/Reactivity";
import * as PgClient from "@effect/sql-pg/PgClient";
import { sql as dsql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/node-postgres";
import { integer, pgTable, text, withReplicas } from "drizzle-orm/pg-core";
import { Effect, Exit, ManagedRuntime, Redacted, Scope } from "effect";
import pg from "pg";
import * as Load from "./load.mjs";

/**
 * @type {{
 *   contenders: Array<string>, cluster: { writer: { host: string, port: number }, readers: Array<{ host: string, port: number }>,
 *     username: string, database: string, env: Record<string, string> },
 *   replicas: number, rounds: number, ms: number, callers: number, pool: number, rows: number,
 *   modules?: { postgres?: string }
 * }}
 */
const config = JSON.parse(process.argv[2]);
const { cluster, callers: CALLERS, ms: MS, pool: POOL, rows: ROWS } = config;
const replicas = cluster.readers.slice(0, config.replicas);
// The package names in the installed project; file URLs of the workspace's `dist` for `--smoke`.
const { Fleet, Postgres } = await import(config.modules?.postgres ?? "@pgfleet/postgres");

const LOOKUP = "SELECT id, v FROM kv WHERE id = $1";
const randomId = () => 1 + Math.floor(Math.random() * ROWS);
const pickerOf = (items) => items.length === 1 ? () => items[0] : () => items[Math.floor(Math.random() * items.length)];
const poolConfig = (host) => ({
  host: host.host,
  port: host.port,
  user: cluster.username,
  password: cluster.env.DB_PASSWORD,
  database: cluster.database,
  max: POOL,
});
const rawPools = async (hosts = replicas) => {
  const pools = hosts.map((h) => new pg.Pool(poolConfig(h)));
  await Promise.all(pools.map(async (p) => {
    const clients = await Promise.all(Array.from({ length: POOL }, () => p.connect()));
    clients.forEach((c) => c.release());
  }));
  return pools;
};
const fleetSettings = (strategy) => ({
  writerHosts: [`${cluster.writer.host}:${cluster.writer.port}`],
  username: cluster.username,
  password: cluster.env.DB_PASSWORD,
  database: cluster.database,
  readerHosts: replicas.map((r) => `${r.host}:${r.port}`),
  readerStrategy: strategy,
  minPoolSize: POOL,
  maxPoolSize: POOL,
});

const promiseLoad = (op) => Load.promiseLoad(op, CALLERS, MS);
const effectLoad = (runPromise, op) => Load.effectLoad(Effect, runPromise, op, CALLERS, MS);

const kv = pgTable("kv", { id: integer("id").primaryKey(), v: text("v").notNull() });

/** Each contender: its name, and a `load(workload)` and `close()` over pools opened and warmed once. */
const makers = {
  "raw-pg": async () => {
    const pools = await rawPools();
    const pick = pickerOf(pools);
    return {
      name: "(a) raw pg Pool",
      load: (w) =>
        promiseLoad(w === "select1" ? () => pick().query("SELECT 1") : () => pick().query(LOOKUP, [randomId()])),
      close: () => Promise.all(pools.map((p) => p.end())),
    };
  },
  "effect-floor": async () => {
    const pools = await rawPools();
    const pick = pickerOf(pools);
    const query = (text, values) =>
      Effect.async((resume) => {
        pick().query(text, values, (error, result) => resume(error ? Effect.fail(error) : Effect.succeed(result)));
      });
    return {
      name: "(a2) Effect.async over pool.query",
      load: (w) =>
        effectLoad(Effect.runPromise, w === "select1" ? () => query("SELECT 1") : () => query(LOOKUP, [randomId()])),
      close: () => Promise.all(pools.map((p) => p.end())),
    };
  },
  "sql-pg": async () => {
    const scope = Effect.runSync(Scope.make());
    const clients = await Effect.runPromise(Scope.extend(
      Effect.forEach(replicas, (r) =>
        PgClient.make({
          host: r.host,
          port: r.port,
          username: cluster.username,
          password: Redacted.make(cluster.env.DB_PASSWORD),
          database: cluster.database,
          maxConnections: POOL,
          minConnections: POOL,
        })).pipe(Effect.provide(Reactivity.layer)),
      scope,
    ));
    await Effect.runPromise(
      Effect.forEach(
        clients,
        (c) => Effect.all(Array.from({ length: POOL }, () => c`SELECT 1`), { concurrency: POOL }),
      ),
    );
    const pick = pickerOf(clients);
    return {
      name: "(b) @effect/sql-pg PgClient",
      load: (w) =>
        effectLoad(
          Effect.runPromise,
          w === "select1" ? () => pick()`SELECT 1` : () => pick()`SELECT id, v FROM kv WHERE id = ${randomId()}`,
        ),
      close: () => Effect.runPromise(Scope.close(scope, Exit.void)),
    };
  },
  "drizzle": async () => {
    const pools = await rawPools();
    const primary = new pg.Pool(poolConfig(cluster.writer));
    const [first, ...rest] = pools.map((p) => drizzle(p));
    const db = rest.length === 0 ? first : withReplicas(drizzle(primary), [first, ...rest]);
    return {
      name: rest.length === 0 ? "(d) drizzle-orm, one pool" : "(d) drizzle-orm withReplicas",
      load: (w) =>
        promiseLoad(
          w === "select1"
            ? () => db.select({ one: dsql`1` }).from(dsql`(SELECT 1) AS one`)
            : () => db.select().from(kv).where(dsql`${kv.id} = ${randomId()}`),
        ),
      close: () => Promise.all([primary, ...pools].map((p) => p.end())),
    };
  },
  ...Object.fromEntries(
    ["random", "round-robin", "least-connections"].flatMap((strategy) =>
      ["reader", "auto"].map((client) => [`pgfleet-${client}-${strategy}`, async () => {
        const runtime = ManagedRuntime.make(Postgres.layer(fleetSettings(strategy)));
        const service = await runtime.runPromise(Postgres.Postgres);
        const sql = service[client];
        return {
          name: `(c) pgfleet ${client}, ${strategy}`,
          load: (w) =>
            effectLoad(
              (e) => runtime.runPromise(e),
              w === "select1" ? () => sql`SELECT 1` : () => sql`SELECT id, v FROM kv WHERE id = ${randomId()}`,
            ),
          close: () => runtime.dispose(),
        };
      }])
    ),
  ),
  "pgfleet-readerPool": async () => {
    const fleet = await Fleet.createFleet(fleetSettings("random"));
    const pool = fleet.readerPool;
    return {
      name: "(e) pgfleet readerPool.query",
      load: (w) => promiseLoad(w === "select1" ? () => pool.query("SELECT 1") : () => pool.query(LOOKUP, [randomId()])),
      close: () => fleet.close(),
    };
  },
};

const unknown = config.contenders.filter((c) => !(c in makers));
if (unknown.length > 0) throw new Error(`installed-run: unknown contender(s) ${unknown.join(", ")}`);
const contenders = [];
for (const key of ["raw-pg", ...config.contenders]) contenders.push({ key, ...await makers[key]() });
console.log(JSON.stringify({ runs: await Load.alternate(contenders, ["select1", "pk-lookup"], config.rounds) }));
