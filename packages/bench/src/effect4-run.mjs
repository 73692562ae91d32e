// `pnpm bench --effect4`: the Effect 4 line, side by side in ONE plain-node process (alternated, raw pg
// first): raw pg, the two drivers under Effect 4 (node-postgres's pg.Pool, which @pgfleet/effect4 uses,
// and @effect/sql-pg 4's own PgPool, multiplex off and on), @effect/sql-pg 4's PgClient (multiplex off
// and on) and pgfleet v4's reader. Run in an empty project where the packed @pgfleet/core and
// @pgfleet/effect4 were installed with npm beside effect@4 and @effect/sql-pg@4 (src/effect4.ts); for
// `--smoke`, from the workspace by file URLs. Prints each run's figures as JSON, as installed-run.mjs.
//   node effect4-run.mjs '<json: see `config` below>'
import * as FakeWire from "./fakeWire.mjs";
import * as Load from "./load.mjs";
/**
 * @type {{
 *   contenders: Array<string>, cluster: { writer: { host: string, port: number }, readers: Array<{ host: string, port: number }>,
 *     username: string, database: string, env: Record<string, string> },
 *   replicas: number, rounds: number, ms: number, callers: number, pool: number, rows: number,
 *   modules?: Record<string, string>, withoutRaw?: boolean, workloads?: Array<string>, fakeWire?: boolean
 * }}
 */
const config = JSON.parse(process.argv[2]);
const { cluster, callers: CALLERS, ms: MS, pool: POOL, rows: ROWS } = config;
const load = (name) => import(config.modules?.[name] ?? name);
const { Effect, Exit, ManagedRuntime, Redacted, Scope } = await load("effect");
const { Reactivity } = await load("effect/reactivity");
const { SqlClient } = await load("effect/sql");
const { PgClient, PgPool } = await load("@effect/sql-pg");
const { Postgres } = await load("@pgfleet/effect4");
const pg = (await load("pg")).default;

const replica = cluster.readers[0];
const LOOKUP = "SELECT id, v FROM kv WHERE id = $1";
const randomId = () => 1 + Math.floor(Math.random() * ROWS);

// `fakeWire` (src/effect4-quick.ts --fake-wire): the drivers answer the two benchmark statements
// themselves (fakeWire.mjs): node-postgres's client here, and on sql-pg 4 the connection that the patch
// effect4-quick.ts puts in the installed PgPool lends without a checkout (it reads
// `globalThis.pgfleetFakeWire`).
if (config.fakeWire) {
  const canned = {
    "SELECT 1": FakeWire.oneRow({ "?column?": 1 }),
    [LOOKUP]: FakeWire.oneRow({ id: 1, v: "c4ca4238a0b923820dcc509a6f75849b" }),
  };
  globalThis.pgfleetFakeWire = canned;
  FakeWire.answerOnClient(pg, canned);
}

const promiseLoad = (op) => Load.promiseLoad(op, CALLERS, MS);
const effectLoad = (runPromise, op) => Load.effectLoad(Effect, runPromise, op, CALLERS, MS);

const rawPool = async () => {
  const pool = new pg.Pool({
    host: replica.host,
    port: replica.port,
    user: cluster.username,
    password: cluster.env.DB_PASSWORD,
    database: cluster.database,
    max: POOL,
  });
  const clients = await Promise.all(Array.from({ length: POOL }, () => pool.connect()));
  clients.forEach((c) => c.release());
  return pool;
};
const sqlPgOptions = (multiplex) => ({
  host: replica.host,
  port: replica.port,
  username: cluster.username,
  password: Redacted.make(cluster.env.DB_PASSWORD),
  database: cluster.database,
  maxConnections: POOL,
  minConnections: POOL,
  multiplex,
});
/** Runs `make` in a scope of its own, and warms POOL connections with as many concurrent statements. */
const scoped = async (make, warm) => {
  const scope = Effect.runSync(Scope.make());
  const value = await Effect.runPromise(Scope.provide(scope)(make));
  await Effect.runPromise(Effect.all(Array.from({ length: POOL }, () => warm(value)), { concurrency: POOL }));
  return { value, close: () => Effect.runPromise(Scope.close(scope, Exit.void)) };
};

const pgfleetReader = async (Postgres, name, driver = {}) => {
  const runtime = ManagedRuntime.make(Postgres.layer({
    writerHosts: [`${cluster.writer.host}:${cluster.writer.port}`],
    readerHosts: [`${replica.host}:${replica.port}`],
    username: cluster.username,
    password: cluster.env.DB_PASSWORD,
    database: cluster.database,
    minPoolSize: POOL,
    maxPoolSize: POOL,
    ...driver,
  }));
  const sql = (await runtime.runPromise(Effect.service(Postgres.Postgres))).reader;
  return {
    name,
    load: (w) =>
      effectLoad(
        (e) => runtime.runPromise(e),
        w === "select1" ? () => sql`SELECT 1` : () => sql`SELECT id, v FROM kv WHERE id = ${randomId()}`,
      ),
    close: () => runtime.dispose(),
  };
};

const makers = {
  "raw-pg": async () => {
    const pool = await rawPool();
    return {
      name: "(a) raw pg Pool, promise loop",
      load: (w) => promiseLoad(w === "select1" ? () => pool.query("SELECT 1") : () => pool.query(LOOKUP, [randomId()])),
      close: () => pool.end(),
    };
  },
  // The drivers under Effect 4, with nothing of effect/sql around them.
  "driver-node-postgres": async () => {
    const pool = await rawPool();
    const query = (text, values) =>
      Effect.callback((resume) => {
        pool.query(text, values, (error, result) => resume(error ? Effect.fail(error) : Effect.succeed(result)));
      });
    return {
      name: "(f) driver: Effect.callback over pg.Pool.query",
      load: (w) =>
        effectLoad(Effect.runPromise, w === "select1" ? () => query("SELECT 1") : () => query(LOOKUP, [randomId()])),
      close: () => pool.end(),
    };
  },
  // The same, with an interrupt canceller returned from the callback (what sending a cancel request on
  // interruption costs in Effect 4: the fiber pushes a finalizer and turns uninterruptible around it).
  "driver-node-postgres-cancel": async () => {
    const pool = await rawPool();
    const query = (text, values) =>
      Effect.callback((resume) => {
        let cancelled = false;
        pool.query(text, values, (error, result) => resume(error ? Effect.fail(error) : Effect.succeed(result)));
        return Effect.sync(() => void (cancelled = true));
      });
    return {
      name: "(f) driver: Effect.callback over pg.Pool.query, with a canceller",
      load: (w) =>
        effectLoad(Effect.runPromise, w === "select1" ? () => query("SELECT 1") : () => query(LOOKUP, [randomId()])),
      close: () => pool.end(),
    };
  },
  // effect/sql's own statement path (span, compile, borrower) over node-postgres, with nothing of pgfleet:
  // SqlClient.make over a connection whose statements are Effect.callback around pg.Pool.query.
  "sqlclient-node-postgres": async () => {
    const pool = await rawPool();
    const run = (sql, params, rowMode) =>
      Effect.callback((resume) => {
        pool.query(
          rowMode === undefined ? sql : { text: sql, rowMode },
          params,
          (error, result) => resume(error ? Effect.die(error) : Effect.succeed(result)),
        );
      });
    const connection = {
      execute: (sql, params, rows) => Effect.map(run(sql, params), (r) => rows ? rows(r.rows) : r.rows),
      executeUnprepared: (sql, params, rows) => Effect.map(run(sql, params), (r) => rows ? rows(r.rows) : r.rows),
      executeRaw: (sql, params) => run(sql, params),
      executeValues: (sql, params) => Effect.map(run(sql, params, "array"), (r) => r.rows),
      executeValuesUnprepared: (sql, params) => Effect.map(run(sql, params, "array"), (r) => r.rows),
      executeStream: () => Effect.die("no streams here"),
    };
    const { value: sql, close } = await scoped(
      SqlClient.make({
        acquirer: Effect.succeed(connection),
        borrower: (f) => f(connection),
        compiler: PgClient.makeCompiler(),
        driver: "bench",
        spanAttributes: [],
      }).pipe(Effect.provide(Reactivity.layer)),
      (sql) => sql`SELECT 1`,
    );
    return {
      name: "(f) effect/sql SqlClient.make over pg.Pool.query",
      load: (w) =>
        effectLoad(
          Effect.runPromise,
          w === "select1" ? () => sql`SELECT 1` : () => sql`SELECT id, v FROM kv WHERE id = ${randomId()}`,
        ),
      close: async () => {
        await close();
        await pool.end();
      },
    };
  },
  ...Object.fromEntries([false, true].map((multiplex) => [`driver-pgpool-${multiplex ? "on" : "off"}`, async () => {
    const { value: pool, close } = await scoped(
      PgPool.make(sqlPgOptions(multiplex)),
      (p) => p.use((c) => c.query("SELECT 1")),
    );
    return {
      name: `(f) driver: sql-pg 4 PgPool.use, multiplex ${multiplex ? "on" : "off"}`,
      load: (w) =>
        effectLoad(
          Effect.runPromise,
          w === "select1"
            ? () => pool.use((c) => c.query("SELECT 1"))
            : () => pool.use((c) => c.query(LOOKUP, [randomId()])),
        ),
      close,
    };
  }])),
  ...Object.fromEntries([false, true].map((multiplex) => [`sql-pg-${multiplex ? "on" : "off"}`, async () => {
    const { value: sql, close } = await scoped(
      PgClient.make(sqlPgOptions(multiplex)).pipe(Effect.provide(Reactivity.layer)),
      (sql) => sql`SELECT 1`,
    );
    return {
      name: `(b) @effect/sql-pg 4 PgClient, multiplex ${multiplex ? "on" : "off"}`,
      load: (w) =>
        effectLoad(
          Effect.runPromise,
          w === "select1" ? () => sql`SELECT 1` : () => sql`SELECT id, v FROM kv WHERE id = ${randomId()}`,
        ),
      close,
    };
  }])),
  "pgfleet4-reader": () => pgfleetReader(Postgres, "(c) pgfleet v4 reader (node-postgres)"),
  ...Object.fromEntries([false, true].map((multiplex) => [
    `pgfleet4-reader-sql-pg-${multiplex ? "on" : "off"}`,
    () =>
      pgfleetReader(Postgres, `(c) pgfleet v4 reader (DB_DRIVER=sql-pg, multiplex ${multiplex ? "on" : "off"})`, {
        driver: "sql-pg",
        multiplex,
      }),
  ])),
  // src/effect4-quick.ts: an earlier build of @pgfleet/effect4 installed under this name, alternated with the current one.
  "pgfleet4-reader-before": async () =>
    pgfleetReader((await load("@pgfleet/effect4-before")).Postgres, "(c) pgfleet v4 reader, before (node-postgres)"),
  ...Object.fromEntries([false, true].map((multiplex) => [
    `pgfleet4-reader-before-sql-pg-${multiplex ? "on" : "off"}`,
    async () =>
      pgfleetReader(
        (await load("@pgfleet/effect4-before")).Postgres,
        `(c) pgfleet v4 reader, before (DB_DRIVER=sql-pg, multiplex ${multiplex ? "on" : "off"})`,
        { driver: "sql-pg", multiplex },
      ),
  ])),
};

const unknown = config.contenders.filter((c) => !(c in makers));
if (unknown.length > 0) throw new Error(`effect4-run: unknown contender(s) ${unknown.join(", ")}`);
const contenders = [];
// `withoutRaw` (src/effect4-quick.ts --no-raw): the named contenders alone, e.g. for a CPU profile of one.
for (const key of [...(config.withoutRaw ? [] : ["raw-pg"]), ...config.contenders]) {
  contenders.push({ key, ...await makers[key]() });
}
console.log(
  JSON.stringify({
    runs: await Load.alternate(contenders, config.workloads ?? ["select1", "pk-lookup"], config.rounds),
  }),
);
