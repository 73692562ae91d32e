// Run by statement-path-ab.mjs inside its empty project: node ab.mjs <before project> <rounds> <seconds>
import { Postgres } from "@pgfleet/postgres"
import { TestCluster } from "@pgfleet/testing"
import { ConfigProvider, Effect, Layer, ManagedRuntime } from "effect"
import pg from "pg"
const [beforeDir, rounds, seconds] = process.argv.slice(2)
const Old = await import(`${beforeDir}/node_modules/@pgfleet/postgres/dist/index.js`)
const OldEffect = await import(`${beforeDir}/node_modules/effect/dist/esm/index.js`)
const ROUNDS = Number(rounds), MS = Number(seconds) * 1000, CALLERS = 32, POOL = 8
const cluster = await TestCluster.startTestCluster({ replicas: 1 })
const replica = cluster.readers[0]
const raw = new pg.Pool({ host: replica.host, port: replica.port, user: cluster.username, database: cluster.database, password: cluster.env.DB_PASSWORD, max: POOL })
const env = { ...cluster.env, DB_MIN_POOL_SIZE: String(POOL), DB_MAX_POOL_SIZE: String(POOL) }
const make = (P, E) => E.ManagedRuntime.make(P.Postgres.PostgresLive.pipe(E.Layer.provide(E.Layer.setConfigProvider(E.ConfigProvider.fromMap(new Map(Object.entries(env)))))))
const rtNew = make({ Postgres }, { ManagedRuntime, Layer, ConfigProvider }), rtOld = make(Old, OldEffect)
const pgNew = await rtNew.runPromise(Postgres.Postgres), pgOld = await rtOld.runPromise(Old.Postgres.Postgres)
const cs = await Promise.all(Array.from({ length: POOL }, () => raw.connect())); cs.forEach((c) => c.release())
const loop = async (one) => { let n = 0; const end = performance.now() + MS
  await Promise.all(Array.from({ length: CALLERS }, async () => { while (performance.now() < end) { await one(); n++ } })); return n }
const effectLoop = (E, rt, one) => () => rt.runPromise(E.Effect.gen(function*() { let n = 0; const end = performance.now() + MS
  yield* E.Effect.forEach(Array.from({ length: CALLERS }), () => E.Effect.whileLoop({ while: () => performance.now() < end, body: () => one, step: () => { n++ } }), { concurrency: "unbounded", discard: true }); return n }))
const floorOne = Effect.async((resume) => { raw.query("SELECT 1", (e, r) => resume(e ? Effect.fail(e) : Effect.succeed(r))) })
const contenders = {
  raw: () => loop(() => raw.query("SELECT 1")),
  floor: effectLoop({ Effect }, rtNew, floorOne),
  before: effectLoop(OldEffect, rtOld, OldEffect.Effect.asVoid(pgOld.reader`SELECT 1`)),
  after: effectLoop({ Effect }, rtNew, Effect.asVoid(pgNew.reader`SELECT 1`))
}
const measure = async (run) => { const c0 = process.cpuUsage(); const t0 = performance.now(); const n = await run(); const c = process.cpuUsage(c0)
  return { perSec: n / ((performance.now() - t0) / 1000), cpuUs: (c.user + c.system) / n } }
for (const run of Object.values(contenders)) await run()
const rows = []
for (let r = 0; r < ROUNDS; r++) { const row = {}; for (const [k, run] of Object.entries(contenders)) row[k] = await measure(run); rows.push(row)
  console.log(Object.entries(row).map(([k, v]) => `${k} ${Math.round(v.perSec)}/s ${v.cpuUs.toFixed(1)}µs`).join("  ")) }
const med = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]
for (const k of Object.keys(contenders)) console.log(k.padEnd(7), "reads/s ÷ raw", med(rows.map((r) => r[k].perSec / r.raw.perSec)).toFixed(2), " CPU ÷ raw", med(rows.map((r) => r[k].cpuUs / r.raw.cpuUs)).toFixed(2), " CPU µs", med(rows.map((r) => r[k].cpuUs)).toFixed(1))
await rtNew.dispose(); await rtOld.dispose(); await raw.end(); await cluster.stop(); process.exit(0)
