import { assert, describe, it } from "vitest"
import { Election } from "../src/index.js"

const healthy = (host: string, observedRole: Election.ObservedRole): Election.Candidate => ({
  host,
  state: "healthy",
  consecutiveFailures: 0,
  observedRole
})
const down = (host: string, observedRole: Election.ObservedRole = "primary"): Election.Candidate => ({
  host,
  state: "down",
  consecutiveFailures: 2,
  observedRole
})
const suspect = (host: string, observedRole: Election.ObservedRole): Election.Candidate => ({
  host,
  state: "suspect",
  consecutiveFailures: 1,
  observedRole
})

const decide = (
  candidates: ReadonlyArray<Election.Candidate>,
  writer = "a",
  splitBrain?: ReadonlyArray<string>
) => Election.decide({ candidates, writer, splitBrain })

describe("election", () => {
  it("one primary that is the writer: nothing to do", () => {
    const d = decide([healthy("a", "primary"), healthy("b", "standby")])
    assert.deepStrictEqual(d, { splitBrain: undefined, announce: false, troubled: false, target: undefined })
  })

  it("the writer down and one other primary: writes move there", () => {
    const d = decide([down("a"), healthy("b", "primary"), healthy("c", "standby")])
    assert.isTrue(d.troubled)
    assert.strictEqual(d.target, "b")
    assert.isUndefined(d.splitBrain)
  })

  it("the writer answering as a standby and one other primary: writes move there", () => {
    const d = decide([healthy("a", "standby"), healthy("b", "primary")])
    assert.isTrue(d.troubled)
    assert.strictEqual(d.target, "b")
  })

  it("a healthy writer keeps writes even when another candidate is the only primary", () => {
    const d = decide([healthy("a", "unknown"), healthy("b", "primary")])
    assert.isFalse(d.troubled)
    assert.isUndefined(d.target)
  })

  it("a suspect writer is not troubled yet", () => {
    const d = decide([suspect("a", "standby"), healthy("b", "primary")])
    assert.isFalse(d.troubled)
    assert.isUndefined(d.target)
  })

  it("two primaries are a split brain: announced once, and no target", () => {
    const first = decide([down("a"), healthy("b", "primary"), healthy("c", "primary")])
    assert.deepStrictEqual(first.splitBrain, ["b", "c"])
    assert.isTrue(first.announce)
    assert.isTrue(first.troubled)
    assert.isUndefined(first.target)
    const again = decide([down("a"), healthy("b", "primary"), healthy("c", "primary")], "a", first.splitBrain)
    assert.deepStrictEqual(again.splitBrain, ["b", "c"])
    assert.isFalse(again.announce)
  })

  it("a split brain among other hosts is announced again", () => {
    const d = decide([healthy("a", "primary"), healthy("b", "standby"), healthy("c", "primary")], "a", ["a", "b"])
    assert.deepStrictEqual(d.splitBrain, ["a", "c"])
    assert.isTrue(d.announce)
  })

  it("the split brain ends when one primary is left", () => {
    const d = decide([healthy("a", "primary"), healthy("b", "standby")], "a", ["a", "b"])
    assert.isUndefined(d.splitBrain)
    assert.isFalse(d.announce)
  })

  it("the writer troubled and no other primary: no target", () => {
    const d = decide([down("a"), healthy("b", "standby"), down("c")])
    assert.isTrue(d.troubled)
    assert.isUndefined(d.target)
  })

  it("the only primary is the writer itself: no target", () => {
    const d = decide([healthy("a", "primary"), down("b")])
    assert.isFalse(d.troubled)
    assert.isUndefined(d.target)
  })

  it("a suspect candidate does not count as a primary", () => {
    const d = decide([down("a"), suspect("b", "primary")])
    assert.isTrue(d.troubled)
    assert.isUndefined(d.target)
    const split = decide([healthy("a", "primary"), suspect("b", "primary")])
    assert.isUndefined(split.splitBrain)
  })

  it("a down candidate does not count as a primary, whatever it said before", () => {
    const d = decide([healthy("a", "standby"), down("b", "primary")])
    assert.isTrue(d.troubled)
    assert.isUndefined(d.target)
    // Down decides on its own, whatever the failure count says.
    const stale: Election.Candidate = { host: "b", state: "down", consecutiveFailures: 0, observedRole: "primary" }
    assert.isFalse(Election.answersPrimary(stale))
    assert.isUndefined(decide([healthy("a", "primary"), stale]).splitBrain)
  })

  it("a reader must be a standby, the writer a primary, other candidates either", () => {
    assert.isTrue(Election.mismatch({ reader: true, writer: false }, "primary"))
    assert.isFalse(Election.mismatch({ reader: true, writer: false }, "standby"))
    assert.isTrue(Election.mismatch({ reader: true, writer: true }, "primary"))
    assert.isTrue(Election.mismatch({ reader: false, writer: true }, "standby"))
    assert.isFalse(Election.mismatch({ reader: false, writer: true }, "primary"))
    assert.isFalse(Election.mismatch({ reader: false, writer: false }, "primary"))
    assert.isFalse(Election.mismatch({ reader: false, writer: false }, "standby"))
    assert.isFalse(Election.mismatch({ reader: true, writer: false }, "unknown"))
    assert.isFalse(Election.mismatch({ reader: false, writer: true }, "unknown"))
  })
})
