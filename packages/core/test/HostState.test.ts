import { assert, describe, it } from "vitest"
import { HostState } from "../src/index.js"

const run = (inputs: ReadonlyArray<HostState.Input>, threshold = 2) =>
  inputs.reduce((s, input) => HostState.next(s, input, threshold), HostState.initial).state

describe("host state", () => {
  it("a failed statement makes a healthy host suspect, never down", () => {
    assert.strictEqual(run(["passive-failure"]), "suspect")
    assert.strictEqual(run(["passive-failure", "passive-failure", "passive-failure"]), "suspect")
  })

  it("only the threshold of failed probes in a row marks a host down", () => {
    assert.strictEqual(run(["probe-failed"]), "suspect")
    assert.strictEqual(run(["probe-failed", "probe-failed"]), "down")
    assert.strictEqual(run(["probe-failed", "probe-failed"], 3), "suspect")
    assert.strictEqual(run(["probe-failed", "probe-ok", "probe-failed"]), "suspect")
  })

  it("one good probe clears suspicion and downtime", () => {
    assert.strictEqual(run(["passive-failure", "probe-ok"]), "healthy")
    assert.strictEqual(run(["probe-failed", "probe-failed", "probe-ok"]), "healthy")
  })

  it("a failed statement on a down host keeps it down", () => {
    assert.strictEqual(run(["probe-failed", "probe-failed", "passive-failure"]), "down")
  })

  it("a host in doubt is probed on a backoff capped by the interval", () => {
    const at = (inputs: ReadonlyArray<HostState.Input>) =>
      HostState.probeDelayMillis(
        inputs.reduce((s, i) => HostState.next(s, i, 5), HostState.initial),
        1000,
        100
      )
    assert.strictEqual(at([]), 1000)
    assert.strictEqual(at(["passive-failure"]), 100)
    assert.strictEqual(at(["probe-failed"]), 100)
    assert.strictEqual(at(["probe-failed", "probe-failed"]), 200)
    assert.strictEqual(at(["probe-failed", "probe-failed", "probe-failed", "probe-failed", "probe-failed"]), 1000)
  })
})
