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
    // Rotation starts at a, b, c in turn: a's turn goes to the next least loaded, b.
    assert.deepStrictEqual(picks, ["b", "b", "c", "b", "b", "c"])
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
