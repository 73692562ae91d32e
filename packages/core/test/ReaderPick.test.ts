import { assert, describe, it } from "vitest"
import { ReaderPick } from "../src/index.js"

interface Pool extends ReaderPick.Loaded {
  readonly name: string
}
const pool = (name: string, inUse: number, waiting = 0): Pool => ({ name, counts: () => ({ inUse, waiting }) })
const names = <A extends { readonly name: string }>(
  pick: ReaderPick.Pick<A>,
  candidates: ReadonlyArray<A>,
  n: number
) => Array.from({ length: n }, () => pick(candidates).name)

describe("ReaderPick.roundRobin", () => {
  it("takes each candidate in turn", () => {
    const pick = ReaderPick.roundRobin<string>()
    const picks = Array.from({ length: 7 }, () => pick(["a", "b", "c"]))
    assert.deepStrictEqual(picks, ["a", "b", "c", "a", "b", "c", "a"])
  })

  it("each strategy keeps its own turn", () => {
    const one = ReaderPick.roundRobin<string>()
    const two = ReaderPick.roundRobin<string>()
    assert.strictEqual(one(["a", "b"]), "a")
    assert.strictEqual(one(["a", "b"]), "b")
    assert.strictEqual(two(["a", "b"]), "a")
  })

  it("stays within the candidates when their number changes", () => {
    const pick = ReaderPick.roundRobin<string>()
    assert.deepStrictEqual([pick(["a", "b", "c"]), pick(["a", "b", "c"]), pick(["a", "b"]), pick(["x"])], [
      "a",
      "b",
      "a",
      "x"
    ])
  })
})

describe("ReaderPick.leastConnections", () => {
  it("picks the least loaded, counting connections in use and callers waiting", () => {
    const pick = ReaderPick.leastConnections<Pool>()
    const candidates = [pool("a", 3), pool("b", 1, 1), pool("c", 1)]
    assert.deepStrictEqual(names(pick, candidates, 4), ["c", "c", "c", "c"])
  })

  it("a waiting caller counts as load", () => {
    const pick = ReaderPick.leastConnections<Pool>()
    assert.deepStrictEqual(names(pick, [pool("a", 0, 2), pool("b", 1, 0)], 3), ["b", "b", "b"])
  })

  it("rotates ties so idle replicas share the load", () => {
    const pick = ReaderPick.leastConnections<Pool>()
    assert.deepStrictEqual(names(pick, [pool("a", 0), pool("b", 0), pool("c", 0)], 6), ["a", "b", "c", "a", "b", "c"])
  })

  it("rotates only among the least loaded", () => {
    const pick = ReaderPick.leastConnections<Pool>()
    const picks = names(pick, [pool("a", 2), pool("b", 0), pool("c", 0)], 6)
    assert.notInclude(picks, "a")
    assert.include(picks, "b")
    assert.include(picks, "c")
    // Turns among the tied only.
    assert.deepStrictEqual(picks, ["b", "c", "b", "c", "b", "c"])
  })

  it("a single candidate is always picked", () => {
    const pick = ReaderPick.leastConnections<Pool>()
    assert.deepStrictEqual(names(pick, [pool("only", 50)], 3), ["only", "only", "only"])
  })
})

describe("ReaderPick.random", () => {
  it("stays within the candidates and reaches each of them", () => {
    const pick = ReaderPick.random<string>()
    const candidates = ["a", "b", "c"]
    const seen = new Map<string, number>()
    for (let i = 0; i < 2000; i++) {
      const picked = pick(candidates)
      assert.include(candidates, picked)
      seen.set(picked, (seen.get(picked) ?? 0) + 1)
    }
    for (const c of candidates) assert.isAtLeast(seen.get(c) ?? 0, 1, c)
    assert.strictEqual([...seen.values()].reduce((a, b) => a + b, 0), 2000)
  })

  it("a single candidate is always picked", () => {
    const pick = ReaderPick.random<string>()
    for (let i = 0; i < 50; i++) assert.strictEqual(pick(["only"]), "only")
  })
})

describe("ReaderPick.fromName", () => {
  it("round-robin takes each in turn", () => {
    const pick = ReaderPick.fromName<Pool>("round-robin")
    assert.deepStrictEqual(names(pick, [pool("a", 9), pool("b", 0)], 4), ["a", "b", "a", "b"])
  })

  it("least-connections follows the load", () => {
    const pick = ReaderPick.fromName<Pool>("least-connections")
    assert.deepStrictEqual(names(pick, [pool("a", 9), pool("b", 0)], 4), ["b", "b", "b", "b"])
  })

  it("random stays within the candidates", () => {
    const pick = ReaderPick.fromName<Pool>("random")
    const candidates = [pool("a", 0), pool("b", 0)]
    const picks = names(pick, candidates, 500)
    for (const p of picks) assert.include(["a", "b"], p)
    assert.include(picks, "a")
    assert.include(picks, "b")
  })
})

describe("weights", () => {
  interface Weighted extends Pool {
    readonly weight: number
  }
  const weighted = (name: string, weight: number, inUse = 0, waiting = 0): Weighted => ({
    name,
    weight,
    counts: () => ({ inUse, waiting })
  })
  const weightOf = (p: Weighted) => p.weight
  const shares = (picks: ReadonlyArray<string>) => {
    const count = new Map<string, number>()
    for (const p of picks) count.set(p, (count.get(p) ?? 0) + 1)
    return Object.fromEntries([...count].map(([k, n]) => [k, n / picks.length]))
  }

  it("round-robin gives each its weight's share in every cycle, spread out (smooth, as nginx)", () => {
    const pick = ReaderPick.roundRobin(weightOf)
    const candidates = [weighted("a", 3), weighted("b", 1)]
    assert.deepStrictEqual(names(pick, candidates, 8), ["a", "a", "b", "a", "a", "a", "b", "a"])
    const five = ReaderPick.roundRobin(weightOf)
    const picks = names(five, [weighted("a", 5), weighted("b", 1), weighted("c", 1)], 7)
    assert.deepStrictEqual(picks, ["a", "a", "b", "a", "c", "a", "a"])
  })

  it("round-robin: a replica that drops out and returns resumes its share", () => {
    const pick = ReaderPick.roundRobin(weightOf)
    const a = weighted("a", 3)
    const b = weighted("b", 1)
    names(pick, [a, b], 3)
    assert.deepStrictEqual(names(pick, [a], 2), ["a", "a"])
    assert.deepStrictEqual(shares(names(pick, [a, b], 400)), { a: 0.75, b: 0.25 })
  })

  it("random gives each its weight's share", () => {
    const pick = ReaderPick.random(weightOf)
    const s = shares(names(pick, [weighted("a", 3), weighted("b", 1)], 20_000))
    assert.approximately(s.a!, 0.75, 0.02)
    assert.approximately(s.b!, 0.25, 0.02)
    for (let i = 0; i < 200; i++) assert.strictEqual(pick([weighted("only", 7)]).name, "only")
  })

  it("least-connections compares load relative to weight", () => {
    const pick = ReaderPick.leastConnections(weightOf)
    // 5/3 < 2/1
    assert.strictEqual(pick([weighted("big", 3, 5), weighted("small", 1, 2)]).name, "big")
    // 7/3 > 2/1
    assert.strictEqual(pick([weighted("big", 3, 7), weighted("small", 1, 2)]).name, "small")
    // Waiting callers count as load.
    assert.strictEqual(pick([weighted("big", 3, 3, 4), weighted("small", 1, 2)]).name, "small")
  })

  it("least-connections breaks ties by weighted turns, so sequential callers follow the weights", () => {
    const pick = ReaderPick.leastConnections(weightOf)
    const idle = [weighted("a", 3), weighted("b", 1)]
    assert.deepStrictEqual(names(pick, idle, 8), ["a", "a", "b", "a", "a", "a", "b", "a"])
    // 6/3 = 2/1: tied, weighted turns again.
    assert.deepStrictEqual(shares(names(pick, [weighted("a", 3, 6), weighted("b", 1, 2)], 400)), { a: 0.75, b: 0.25 })
  })

  it("least-connections under load: in-use counts settle at the weights' ratio", () => {
    // Simulated: each pick holds a connection, the oldest is released, 16 in flight.
    const inUse = new Map<string, number>([["a", 0], ["b", 0]])
    const pool = (name: string, weight: number): Weighted => ({
      name,
      weight,
      counts: () => ({ inUse: inUse.get(name)!, waiting: 0 })
    })
    const candidates = [pool("a", 3), pool("b", 1)]
    const pick = ReaderPick.leastConnections(weightOf)
    const inFlight: Array<string> = []
    for (let i = 0; i < 16; i++) {
      const p = pick(candidates).name
      inUse.set(p, inUse.get(p)! + 1)
      inFlight.push(p)
    }
    assert.deepStrictEqual(Object.fromEntries(inUse), { a: 12, b: 4 })
    const picks: Array<string> = []
    for (let i = 0; i < 4000; i++) {
      const done = inFlight.shift()!
      inUse.set(done, inUse.get(done)! - 1)
      const p = pick(candidates).name
      inUse.set(p, inUse.get(p)! + 1)
      inFlight.push(p)
      picks.push(p)
    }
    assert.deepStrictEqual(shares(picks), { a: 0.75, b: 0.25 })
  })

  it("fromName passes the weights to each strategy", () => {
    for (const name of ["round-robin", "least-connections"] as const) {
      const pick = ReaderPick.fromName(name, weightOf)
      assert.deepStrictEqual(shares(names(pick, [weighted("a", 3), weighted("b", 1)], 400)), { a: 0.75, b: 0.25 }, name)
    }
    const s = shares(names(ReaderPick.fromName("random", weightOf), [weighted("a", 3), weighted("b", 1)], 20_000))
    assert.approximately(s.a!, 0.75, 0.02)
  })
})
