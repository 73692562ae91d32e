import { assert, describe, it } from "vitest"
import { ReaderPick, Routing } from "../src/index.js"

type Pool = { readonly host: string }
const r1: Pool = { host: "r1:5432" }
const r2: Pool = { host: "r2:5432" }
const w: Pool = { host: "w:5432" }

const healthy: Routing.Health = { state: "healthy", roleMismatch: false, lagSeconds: 0, walLsn: 100n }

const routerWith = (
  health: Record<string, Partial<Routing.Health>>,
  options: {
    readonly fallback?: "writer" | "fail"
    readonly maxLagMs?: number
    readonly readers?: ReadonlyArray<Pool>
  } = {}
) =>
  Routing.router<Pool>({
    readers: options.readers ?? [r1, r2],
    writer: w,
    strategy: { name: "round-robin", pick: ReaderPick.roundRobin() },
    health: (host) => ({ ...healthy, ...health[host] }),
    maxLagMs: options.maxLagMs ?? 0,
    fallback: options.fallback ?? "writer"
  })

const decided = (d: Routing.Decision<Pool> | Routing.Refusal): Routing.Decision<Pool> => {
  if ("_tag" in d) throw new Error(`refused: ${d.message}`)
  return d
}

describe("Routing", () => {
  it("every replica usable: the strategy's pick, nothing skipped, the same decision object each time", () => {
    const route = routerWith({})
    const first = decided(route())
    const second = decided(route())
    const third = decided(route())
    assert.deepStrictEqual([first.pool, second.pool], [r1, r2])
    assert.strictEqual(first.route, "strategy")
    assert.deepStrictEqual(first.skipped, [])
    assert.strictEqual(third, first)
  })

  it("no replicas configured: the writer, as no-readers", () => {
    const d = decided(routerWith({}, { readers: [] })())
    assert.strictEqual(d.pool, w)
    assert.strictEqual(d.route, "no-readers")
  })

  it("passes over down, role-changed, lagging, excluded and behind-position replicas, naming why", () => {
    assert.deepStrictEqual(decided(routerWith({ "r1:5432": { state: "down" } })()).skipped, [
      { host: "r1:5432", reason: "down" }
    ])
    assert.deepStrictEqual(decided(routerWith({ "r2:5432": { roleMismatch: true } })()).skipped, [
      { host: "r2:5432", reason: "role-changed" }
    ])
    const lagging = decided(routerWith({ "r1:5432": { lagSeconds: 3 } }, { maxLagMs: 2000 })())
    assert.deepStrictEqual([lagging.pool, lagging.skipped], [r2, [{ host: "r1:5432", reason: "lagging" }]])
    // Lag is ignored when DB_READER_MAX_LAG_MS is 0.
    assert.deepStrictEqual(decided(routerWith({ "r1:5432": { lagSeconds: 3 } })()).skipped, [])
    const excluded = decided(routerWith({})(["r2:5432"]))
    assert.deepStrictEqual([excluded.pool, excluded.skipped], [r1, [{ host: "r2:5432", reason: "failed-this-read" }]])
    const behind = decided(routerWith({ "r1:5432": { walLsn: 99n } })(undefined, 100n))
    assert.deepStrictEqual([behind.pool, behind.skipped], [r2, [{ host: "r1:5432", reason: "behind-position" }]])
  })

  it("a suspect replica is avoided while another is healthy", () => {
    const d = decided(routerWith({ "r1:5432": { state: "suspect" } })())
    assert.deepStrictEqual([d.pool, d.skipped], [r2, [{ host: "r1:5432", reason: "suspect" }]])
  })

  it("no usable replica: the writer as fallback, or a refusal naming every replica with DB_READER_FALLBACK=fail", () => {
    const down = { "r1:5432": { state: "down" as const }, "r2:5432": { state: "down" as const } }
    const fallback = decided(routerWith(down)())
    assert.deepStrictEqual([fallback.pool, fallback.route], [w, "fallback"])
    const refused = routerWith(down, { fallback: "fail" })()
    assert.ok("_tag" in refused)
    assert.strictEqual(refused.host, "r1:5432,r2:5432")
    assert.include(refused.message, "r1:5432: down")
    assert.include(refused.message, "DB_READER_FALLBACK is fail")
  })

  it("with DB_READER_FALLBACK=fail a suspect replica serves before a refusal; a minimum position still goes to the writer", () => {
    const health = { "r1:5432": { state: "down" as const }, "r2:5432": { state: "suspect" as const } }
    assert.strictEqual(decided(routerWith(health, { fallback: "fail" })()).pool, r2)
    const behind = { "r1:5432": { walLsn: 1n }, "r2:5432": { walLsn: 1n } }
    assert.strictEqual(decided(routerWith(behind, { fallback: "fail" })(undefined, 5n)).pool, w)
  })
})
