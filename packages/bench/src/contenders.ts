/**
 * The contenders, each with its pools opened once on the replicas of a
 * scenario: (a) raw node-postgres, (a2) `Effect.async` over it, (b)
 * @effect/sql-pg, (c) pgfleet's reader per strategy, from `dist` and through
 * tsx, (d) drizzle-orm.
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import * as PgClient from "@effect/sql-pg/PgClient"
import { Postgres } from "@pgfleet/postgres"
import type * as PgFleet from "@pgfleet/postgres"
import type { PostgresConfig } from "@pgfleet/postgres"
import { settingsFor } from "@pgfleet/testing"
import type { TestCluster } from "@pgfleet/testing"
import { sql as dsql } from "drizzle-orm"
import { drizzle } from "drizzle-orm/node-postgres"
import { integer, pgTable, text } from "drizzle-orm/pg-core"
import { withReplicas } from "drizzle-orm/pg-core"
import { Effect, Exit, ManagedRuntime, Redacted, Scope } from "effect"
import * as path from "node:path"
import * as url from "node:url"
import pg from "pg"
import { effectLoad, type LoadResult, promiseLoad } from "./measure.js"

export type Workload = "select1" | "pk-lookup"
export const workloads: ReadonlyArray<Workload> = ["select1", "pk-lookup"]
export const ROWS = 100_000
export const POOL_SIZE = 8

const randomId = () => 1 + Math.floor(Math.random() * ROWS)
const LOOKUP = "SELECT id, v FROM kv WHERE id = $1"

export interface Contender {
  readonly name: string
  readonly load: (workload: Workload, concurrency: number, durationMs: number) => Promise<LoadResult>
  /** One `SELECT 1`, for the failover and memory runs. */
  readonly runOne: () => Promise<unknown>
  readonly close: () => Promise<void>
}

const poolConfig = (cluster: TestCluster.TestClusterPromise, host: { host: string; port: number }): pg.PoolConfig => ({
  host: host.host,
  port: host.port,
  user: cluster.username,
  password: cluster.env.DB_PASSWORD!,
  database: cluster.database,
  max: POOL_SIZE
})

/** Opens `n` connections at once, so every contender starts warm. */
const warm = async (pool: pg.Pool, n = POOL_SIZE) => {
  const clients = await Promise.all(Array.from({ length: n }, () => pool.connect()))
  clients.forEach((c) => c.release())
}

/** The replicas a throughput scenario reads from: the first one, or all. */
export type Replicas = ReadonlyArray<TestCluster.HostPort>

const pickerOf = <A>(items: ReadonlyArray<A>) => () => items[Math.floor(Math.random() * items.length)]!

/** (a) A raw node-postgres Pool per replica, picked at random. */
export const rawPg = async (cluster: TestCluster.TestClusterPromise, replicas: Replicas): Promise<Contender> => {
  const pools = replicas.map((r) => new pg.Pool(poolConfig(cluster, r)))
  await Promise.all(pools.map((p) => warm(p)))
  const pick = pickerOf(pools)
  return {
    name: "(a) raw pg Pool",
    load: (workload, concurrency, ms) =>
      promiseLoad(
        workload === "select1" ? () => pick().query("SELECT 1") : () => pick().query(LOOKUP, [randomId()]),
        concurrency,
        ms
      ),
    runOne: () => pick().query("SELECT 1"),
    close: async () => {
      await Promise.all(pools.map((p) => p.end()))
    }
  }
}

/** (a2) `Effect.async` around `pool.query`: the floor for any Effect client. */
export const effectAsync = async (cluster: TestCluster.TestClusterPromise, replicas: Replicas): Promise<Contender> => {
  const pools = replicas.map((r) => new pg.Pool(poolConfig(cluster, r)))
  await Promise.all(pools.map((p) => warm(p)))
  const pick = pickerOf(pools)
  const query = (text: string, values: Array<unknown> = []) =>
    Effect.async<pg.QueryResult, Error>((resume) => {
      pick().query(text, values, (error, result) => resume(error ? Effect.fail(error) : Effect.succeed(result)))
    })
  return {
    name: "(a2) Effect.async over pool.query",
    load: (workload, concurrency, ms) =>
      Effect.runPromise(effectLoad(
        workload === "select1" ? () => query("SELECT 1") : () => query(LOOKUP, [randomId()]),
        concurrency,
        ms
      )),
    runOne: () => Effect.runPromise(query("SELECT 1")),
    close: async () => {
      await Promise.all(pools.map((p) => p.end()))
    }
  }
}

/** Runs Effect contenders in a scope of their own, closed by `close`. */
const scoped = async <A, E>(make: Effect.Effect<A, E, Scope.Scope>) => {
  const scope = Effect.runSync(Scope.make())
  const value = await Effect.runPromise(Scope.extend(make, scope))
  return { value, close: () => Effect.runPromise(Scope.close(scope, Exit.void)) }
}

/** (b) @effect/sql-pg PgClients, one per replica, picked at random. */
export const effectSqlPg = async (cluster: TestCluster.TestClusterPromise, replicas: Replicas): Promise<Contender> => {
  const { close, value: clients } = await scoped(
    Effect.forEach(replicas, (replica) =>
      PgClient.make({
        host: replica.host,
        port: replica.port,
        username: cluster.username,
        password: Redacted.make(cluster.env.DB_PASSWORD!),
        database: cluster.database,
        maxConnections: POOL_SIZE,
        minConnections: POOL_SIZE
      })).pipe(Effect.provide(Reactivity.layer))
  )
  await Effect.runPromise(
    Effect.forEach(clients, (client) =>
      Effect.all(
        Array.from({ length: POOL_SIZE }, () => client`SELECT 1`),
        { concurrency: POOL_SIZE }
      ))
  )
  const pick = pickerOf(clients)
  return {
    name: "(b) @effect/sql-pg PgClient",
    load: (workload, concurrency, ms) =>
      Effect.runPromise(effectLoad(
        workload === "select1" ? () => pick()`SELECT 1` : () => pick()`SELECT id, v FROM kv WHERE id = ${randomId()}`,
        concurrency,
        ms
      )),
    runOne: () => Effect.runPromise(pick()`SELECT 1`),
    close
  }
}

/** pgfleet settings for the bench cluster. */
export const fleetSettings = (
  cluster: TestCluster.TestClusterPromise,
  overrides: Partial<PostgresConfig.PostgresSettingsInput> = {}
): PostgresConfig.PostgresSettingsInput => ({
  ...settingsFor(cluster),
  minPoolSize: POOL_SIZE,
  maxPoolSize: POOL_SIZE,
  ...overrides
})

/**
 * Where pgfleet is loaded from: the JavaScript that `pnpm build` writes, as users get it, or its
 * TypeScript sources through tsx (which keeps function names: a property definition per closure).
 */
export type Source = "dist" | "tsx" | "baseline"

const distEntry = new URL("../../postgres/dist/index.js", import.meta.url)
/**
 * `--baseline DIR`: another build of @pgfleet/postgres (say, the previous commit's `dist`, copied
 * under packages/postgres/ so it resolves the same packages), alternated with this one.
 */
const baselineAt = process.argv.indexOf("--baseline")
export const baselineDir = baselineAt >= 0 ? path.resolve(process.argv[baselineAt + 1]!) : undefined
const entryOf = (source: Source) =>
  source === "baseline" ? url.pathToFileURL(path.join(baselineDir!, "index.js")).href : distEntry.href
const load = async (source: Source): Promise<typeof Postgres> =>
  source === "tsx" ? Postgres : ((await import(entryOf(source))) as { Postgres: typeof Postgres }).Postgres

/** (c) pgfleet's routed reader, or `pg.auto` (each statement classified by the parser, cached per text). */
export const pgfleet = async (
  cluster: TestCluster.TestClusterPromise,
  replicas: Replicas,
  readerStrategy: "random" | "round-robin" | "least-connections",
  source: Source,
  client: "reader" | "auto" = "reader"
): Promise<Contender> => {
  const Fleet = await load(source)
  const runtime = ManagedRuntime.make(Fleet.layer(fleetSettings(cluster, {
    readerStrategy,
    readerHosts: replicas.map((r) => `${r.host}:${r.port}`)
  })))
  const pgService = await runtime.runPromise(Fleet.Postgres)
  const reader = pgService[client]
  return {
    name: `(c) pgfleet ${client}, ${readerStrategy}, ${source}`,
    load: (workload, concurrency, ms) =>
      runtime.runPromise(effectLoad(
        workload === "select1" ? () => reader`SELECT 1` : () => reader`SELECT id, v FROM kv WHERE id = ${randomId()}`,
        concurrency,
        ms
      )),
    runOne: () => runtime.runPromise(reader`SELECT 1`),
    close: () => runtime.dispose()
  }
}

const kv = pgTable("kv", { id: integer("id").primaryKey(), v: text("v").notNull() })

/** (d) drizzle-orm over node-postgres pools: one pool, or `withReplicas` (a random replica per select). */
export const drizzleReplicas = async (
  cluster: TestCluster.TestClusterPromise,
  replicas: Replicas
): Promise<Contender> => {
  const primaryPool = new pg.Pool(poolConfig(cluster, cluster.writer))
  const replicaPools = replicas.map((r) => new pg.Pool(poolConfig(cluster, r)))
  await Promise.all(replicaPools.map((p) => warm(p)))
  const [first, ...rest] = replicaPools.map((p) => drizzle(p))
  const db = rest.length === 0 ? first! : withReplicas(drizzle(primaryPool), [first!, ...rest])
  return {
    name: rest.length === 0 ? "(d) drizzle-orm, one pool" : "(d) drizzle-orm withReplicas",
    load: (workload, concurrency, ms) =>
      promiseLoad(
        workload === "select1"
          ? () => db.select({ one: dsql<number>`1` }).from(dsql`(SELECT 1) AS one`)
          : () => db.select().from(kv).where(dsql`${kv.id} = ${randomId()}`),
        concurrency,
        ms
      ),
    runOne: () => db.select({ one: dsql<number>`1` }).from(dsql`(SELECT 1) AS one`),
    close: async () => {
      await Promise.all([primaryPool, ...replicaPools].map((p) => p.end()))
    }
  }
}

/**
 * (e) pgfleet's node-postgres `Pool` adapter (`Fleet.createFleet(...).readerPool`), through its own
 * `query`, or under drizzle-orm: what code outside Effect gets.
 */
export const fleetReaderPool = async (
  cluster: TestCluster.TestClusterPromise,
  replicas: Replicas,
  via: "query" | "drizzle"
): Promise<Contender> => {
  const { Fleet } = (await import(distEntry.href)) as typeof PgFleet
  const fleet = await Fleet.createFleet(fleetSettings(cluster, {
    readerHosts: replicas.map((r) => `${r.host}:${r.port}`)
  }))
  const pool = fleet.readerPool
  const db = drizzle(pool)
  const select1 = via === "query"
    ? () => pool.query("SELECT 1")
    : () => db.select({ one: dsql<number>`1` }).from(dsql`(SELECT 1) AS one`)
  const lookup = via === "query"
    ? () => pool.query(LOOKUP, [randomId()])
    : () => db.select().from(kv).where(dsql`${kv.id} = ${randomId()}`)
  return {
    name: via === "query" ? "(e) pgfleet readerPool.query, dist" : "(e) drizzle-orm over pgfleet readerPool, dist",
    load: (workload, concurrency, ms) => promiseLoad(workload === "select1" ? select1 : lookup, concurrency, ms),
    runOne: select1,
    close: () => fleet.close()
  }
}

type Make = (cluster: TestCluster.TestClusterPromise, replicas: Replicas) => Promise<Contender>

/** The routing tax: every contender on the first replica alone. */
export const oneReplica: ReadonlyArray<Make> = [
  rawPg,
  effectAsync,
  effectSqlPg,
  drizzleReplicas,
  (c, r) => pgfleet(c, r, "random", "dist"),
  (c, r) => pgfleet(c, r, "random", "tsx"),
  (c, r) => fleetReaderPool(c, r, "query"),
  (c, r) => fleetReaderPool(c, r, "drizzle"),
  ...(baselineDir === undefined ?
    [] :
    [(c: TestCluster.TestClusterPromise, r: Replicas) => pgfleet(c, r, "random", "baseline")])
]

/** Routing: every contender across both replicas. */
export const twoReplicas: ReadonlyArray<Make> = [
  rawPg,
  effectAsync,
  effectSqlPg,
  drizzleReplicas,
  ...(["random", "round-robin", "least-connections"] as const).map(
    (strategy) => (c: TestCluster.TestClusterPromise, r: Replicas) => pgfleet(c, r, strategy, "dist")
  ),
  (c, r) => pgfleet(c, r, "random", "dist", "auto"),
  (c, r) => fleetReaderPool(c, r, "query"),
  (c, r) => pgfleet(c, r, "random", "tsx")
]
