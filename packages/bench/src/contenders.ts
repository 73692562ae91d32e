/**
 * The contenders, each with its pools opened once: (a) raw node-postgres,
 * (b) @effect/sql-pg on one replica, (c) pgfleet's reader per strategy,
 * (d) drizzle-orm's withReplicas.
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import * as PgClient from "@effect/sql-pg/PgClient"
import { Postgres } from "@pgfleet/postgres"
import type { PostgresConfig } from "@pgfleet/postgres"
import { settingsFor } from "@pgfleet/testing"
import type { TestCluster } from "@pgfleet/testing"
import { sql as dsql } from "drizzle-orm"
import { drizzle } from "drizzle-orm/node-postgres"
import { integer, pgTable, text } from "drizzle-orm/pg-core"
import { withReplicas } from "drizzle-orm/pg-core"
import { Effect, Exit, ManagedRuntime, Redacted, Scope } from "effect"
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

/** (a) A raw node-postgres Pool per replica, picked at random. */
export const rawPg = async (cluster: TestCluster.TestClusterPromise): Promise<Contender> => {
  const pools = cluster.readers.map((r) => new pg.Pool(poolConfig(cluster, r)))
  await Promise.all(pools.map((p) => warm(p)))
  const pick = () => pools[Math.floor(Math.random() * pools.length)]!
  return {
    name: "(a) raw pg Pool, random replica",
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

/** Runs Effect contenders in a scope of their own, closed by `close`. */
const scoped = async <A, E>(make: Effect.Effect<A, E, Scope.Scope>) => {
  const scope = Effect.runSync(Scope.make())
  const value = await Effect.runPromise(Scope.extend(make, scope))
  return { value, close: () => Effect.runPromise(Scope.close(scope, Exit.void)) }
}

/** (b) The @effect/sql-pg PgClient on a single replica. */
export const effectSqlPg = async (cluster: TestCluster.TestClusterPromise): Promise<Contender> => {
  const replica = cluster.readers[0]!
  const { close, value: client } = await scoped(
    PgClient.make({
      host: replica.host,
      port: replica.port,
      username: cluster.username,
      password: Redacted.make(cluster.env.DB_PASSWORD!),
      database: cluster.database,
      maxConnections: POOL_SIZE,
      minConnections: POOL_SIZE
    }).pipe(Effect.provide(Reactivity.layer))
  )
  await Effect.runPromise(
    Effect.all(Array.from({ length: POOL_SIZE }, () => client`SELECT 1`), { concurrency: POOL_SIZE })
  )
  return {
    name: "(b) @effect/sql-pg PgClient, one replica",
    load: (workload, concurrency, ms) =>
      Effect.runPromise(effectLoad(
        workload === "select1" ? () => client`SELECT 1` : () => client`SELECT id, v FROM kv WHERE id = ${randomId()}`,
        concurrency,
        ms
      )),
    runOne: () => Effect.runPromise(client`SELECT 1`),
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
 * Where pgfleet is loaded from: its TypeScript sources through tsx (which keeps function names,
 * a property definition per closure), or the JavaScript that `pnpm build` writes, as users get it.
 */
export type Source = "tsx" | "dist"

const distEntry = new URL("../../postgres/dist/index.js", import.meta.url)
const load = async (source: Source): Promise<typeof Postgres> =>
  source === "tsx" ? Postgres : ((await import(distEntry.href)) as { Postgres: typeof Postgres }).Postgres

/** (c) pgfleet's routed reader. */
export const pgfleet = async (
  cluster: TestCluster.TestClusterPromise,
  readerStrategy: "random" | "round-robin" | "least-connections",
  source: Source = "dist"
): Promise<Contender> => {
  const Fleet = await load(source)
  const runtime = ManagedRuntime.make(Fleet.layer(fleetSettings(cluster, { readerStrategy })))
  const pgService = await runtime.runPromise(Fleet.Postgres)
  const reader = pgService.reader
  return {
    name: `(c) pgfleet reader, ${readerStrategy}, ${source}`,
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

/** (d) drizzle-orm's withReplicas over node-postgres pools (it routes selects to a random replica). */
export const drizzleReplicas = async (cluster: TestCluster.TestClusterPromise): Promise<Contender> => {
  const primaryPool = new pg.Pool(poolConfig(cluster, cluster.writer))
  const replicaPools = cluster.readers.map((r) => new pg.Pool(poolConfig(cluster, r)))
  await Promise.all(replicaPools.map((p) => warm(p)))
  const [first, ...rest] = replicaPools.map((p) => drizzle(p))
  const db = withReplicas(drizzle(primaryPool), [first!, ...rest])
  return {
    name: "(d) drizzle-orm withReplicas",
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

export const all = [
  rawPg,
  effectSqlPg,
  ...(["random", "round-robin", "least-connections"] as const).flatMap((strategy) =>
    (["dist", "tsx"] as const).map((source) => (c: TestCluster.TestClusterPromise) => pgfleet(c, strategy, source))
  ),
  drizzleReplicas
] as const
