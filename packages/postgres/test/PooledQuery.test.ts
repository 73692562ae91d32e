import { Failure, PoolControl, PooledQuery } from "@pgfleet/core"
import { startTestCluster, type TestCluster } from "@pgfleet/testing"
import pg from "pg"
import { afterAll, assert, beforeAll, describe, it } from "vitest"

interface Outcome {
  readonly error: Error | undefined
  readonly stage: PooledQuery.Stage
  readonly rows: ReadonlyArray<Record<string, unknown>>
}

/** One statement through `runPooled`, its outcome as a promise, and its handle. */
const run = (pool: pg.Pool, text: string, values: Array<unknown> = []) => {
  let running: PooledQuery.Running | undefined
  const outcome = new Promise<Outcome>((resolve) => {
    running = PooledQuery.runPooled(
      pool,
      (client, callback) => client.query(text, values, callback),
      (error, result, stage) => resolve({ error, stage, rows: result?.rows ?? [] })
    )
  })
  return { outcome, running: running! }
}

const pid = "SELECT pg_backend_pid() AS pid"

/** Resolves once `pool` has a connection checked out (opened, and lent to a statement). */
const checkedOut = async (pool: pg.Pool) => {
  while (PoolControl.checkedOut(pool).length === 0) await new Promise((resolve) => setTimeout(resolve, 5))
}

describe("PooledQuery: statements hand their connections on", () => {
  let cluster: TestCluster.TestClusterPromise
  const pools: Array<pg.Pool> = []
  const poolOf = (options: pg.PoolConfig) => {
    const pool = new pg.Pool({
      host: cluster.writer.host,
      port: cluster.writer.port,
      user: cluster.username,
      password: cluster.env.DB_PASSWORD,
      database: cluster.database,
      ...options
    })
    pool.on("error", () => {})
    pools.push(pool)
    return pool
  }

  beforeAll(async () => {
    cluster = await startTestCluster({ replicas: 1 })
  }, 120_000)
  afterAll(async () => {
    await Promise.all(pools.map((pool) => pool.end()))
    await cluster?.stop()
  })

  it("more statements than connections run on the connections of the ones before them, not through pg-pool", async () => {
    const pool = poolOf({ max: 2 })
    let acquired = 0
    pool.on("acquire", () => acquired++)
    const statements = Array.from({ length: 200 }, (_, i) => run(pool, "SELECT $1::int AS n", [i]))
    const outcomes = await Promise.all(statements.map((s) => s.outcome))
    assert.deepStrictEqual(outcomes.map((o) => o.rows[0]?.n), statements.map((_, i) => i))
    assert.isTrue(outcomes.every((o) => o.error === undefined))
    assert.isAtMost(pool.totalCount, 2)
    // Two checkouts start the chains; the rest is handed on.
    assert.isBelow(acquired, 20, `pg-pool checked out ${acquired} times for 200 statements`)
    assert.strictEqual(PooledQuery.waitingBeyondPool(pool), 0)
  })

  it("a queue longer than its compaction step keeps its order", async () => {
    const pool = poolOf({ max: 1 })
    const order: Array<number> = []
    const statements = Array.from({ length: 3000 }, (_, i) => run(pool, "SELECT $1::int AS n", [i]))
    for (const s of statements) void s.outcome.then((o) => order.push(o.rows[0]?.n as number))
    await Promise.all(statements.map((s) => s.outcome))
    assert.deepStrictEqual(order, statements.map((_, i) => i))
  })

  it("a statement waiting for another's connection fails after the pool's timeout, counted as waiting", async () => {
    const pool = poolOf({ max: 1, connectionTimeoutMillis: 300 })
    const slow = run(pool, "SELECT pg_sleep(1.5)")
    const waiting = run(pool, "SELECT 1")
    // The first opens the pool's one connection; the second waits for it, in pgfleet's queue.
    assert.strictEqual(pool.waitingCount, 0)
    assert.strictEqual(PooledQuery.waitingBeyondPool(pool), 1)
    const timedOut = await waiting.outcome
    assert.strictEqual(timedOut.error?.message, Failure.POOL_WAIT_TIMEOUT)
    assert.strictEqual(timedOut.stage, "acquire")
    assert.strictEqual(Failure.classify(timedOut.error).kind, "overload")
    assert.isUndefined((await slow.outcome).error)
    // The connection is free again: the next statement gets it.
    assert.isUndefined((await run(pool, "SELECT 1").outcome).error)
  })

  it("someone else waiting at pg-pool is served before the next of pgfleet's statements", async () => {
    const pool = poolOf({ max: 1 })
    const statements = Array.from({ length: 20 }, () => run(pool, "SELECT pg_sleep(0.01)"))
    let finished = 0
    for (const s of statements) void s.outcome.then(() => finished++)
    await new Promise((resolve) => setTimeout(resolve, 30))
    const client = await pool.connect()
    const finishedWhenServed = finished
    client.release()
    await Promise.all(statements.map((s) => s.outcome))
    assert.isBelow(finishedWhenServed, 20, "pool.connect() waited for every pgfleet statement")
    assert.strictEqual(finished, 20)
  })

  it("an interrupted statement that still waited is passed over", async () => {
    const pool = poolOf({ max: 1 })
    const first = run(pool, "SELECT pg_sleep(0.2)")
    let answered = false
    const left = run(pool, "SELECT 1")
    void left.outcome.then(() => answered = true)
    left.running.interrupt(1000)
    const next = await run(pool, "SELECT 2 AS n").outcome
    assert.strictEqual(next.rows[0]?.n, 2)
    assert.isUndefined((await first.outcome).error)
    assert.isFalse(answered)
  })

  it("PoolControl.abandon fails the statements waiting for a connection with its error", async () => {
    const pool = poolOf({ max: 1 })
    const running = run(pool, "SELECT pg_sleep(5)")
    const waiting = run(pool, "SELECT 1")
    await checkedOut(pool)
    const error = new Error("db stopped answering")
    PoolControl.abandon(pool, PoolControl.checkedOut(pool), new Set(), error)
    assert.strictEqual((await waiting.outcome).error, error)
    assert.isDefined((await running.outcome).error)
  })

  it("a connection recycled while in use goes back to pg-pool, and the next statement gets a new one", async () => {
    const pool = poolOf({ max: 1 })
    const before = run(pool, `${pid}, pg_sleep(0.2)`)
    const after = run(pool, pid)
    // Recycled once it holds its connection: a connection still opening is not yet checked out.
    await checkedOut(pool)
    PoolControl.recycle(pool, PoolControl.checkedOut(pool))
    const [first, second] = await Promise.all([before.outcome, after.outcome])
    assert.isUndefined(second.error)
    assert.notStrictEqual(second.rows[0]?.pid, first.rows[0]?.pid)
  })
})
