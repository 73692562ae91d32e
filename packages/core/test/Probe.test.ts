import { assert, describe, expect, it } from "vitest"
import { Probe } from "../src/index.js"

describe("Probe.lsnBytes", () => {
  it("reads X/Y as high and low 32-bit halves", () => {
    assert.strictEqual(Probe.lsnBytes("0/3000060"), 50331744n)
    assert.strictEqual(Probe.lsnBytes("1/0"), 4294967296n)
    assert.strictEqual(Probe.lsnBytes("FF/FFFFFFFF"), 1099511627775n)
    assert.strictEqual(Probe.lsnBytes("0/0"), 0n)
  })

  it("takes lower-case hex as PostgreSQL may print it", () => {
    assert.strictEqual(Probe.lsnBytes("a/b"), (10n << 32n) + 11n)
  })
})

describe("Probe.read", () => {
  it("a primary reports its position and no lag", () => {
    expect(Probe.read({ standby: false, lsn: "0/3000060", lag_seconds: 0 }, undefined)).toEqual({
      role: "primary",
      walLsn: 50331744n,
      lagBytes: undefined,
      lagSeconds: undefined
    })
    // Even if the writer's position is known and differs, a primary has no lag.
    expect(Probe.read({ standby: false, lsn: "0/3000000", lag_seconds: 7 }, 50331744n)).toEqual({
      role: "primary",
      walLsn: 50331648n,
      lagBytes: undefined,
      lagSeconds: undefined
    })
  })

  it("a standby behind the writer lags by the difference in bytes", () => {
    expect(Probe.read({ standby: true, lsn: "0/3000000", lag_seconds: 4 }, 50331744n)).toEqual({
      role: "standby",
      walLsn: 50331648n,
      lagBytes: 96,
      lagSeconds: 4
    })
    const answer = Probe.read({ standby: true, lsn: "0/FFFFFFFF", lag_seconds: 2.5 }, Probe.lsnBytes("1/10"))
    assert.strictEqual(answer.lagBytes, 17)
    assert.strictEqual(answer.lagSeconds, 2.5)
  })

  it("a standby caught up with the writer has no replay delay, whatever the last replay time says", () => {
    expect(Probe.read({ standby: true, lsn: "0/3000060", lag_seconds: 120 }, 50331744n)).toEqual({
      role: "standby",
      walLsn: 50331744n,
      lagBytes: 0,
      lagSeconds: 0
    })
  })

  it("a standby ahead of the writer's last probed position is not behind", () => {
    const answer = Probe.read({ standby: true, lsn: "0/3000100", lag_seconds: 3 }, 50331744n)
    assert.strictEqual(answer.lagBytes, 0)
    assert.strictEqual(answer.lagSeconds, 0)
  })

  it("an unknown writer position leaves the byte lag unknown and keeps the seconds", () => {
    expect(Probe.read({ standby: true, lsn: "0/3000000", lag_seconds: 9 }, undefined)).toEqual({
      role: "standby",
      walLsn: 50331648n,
      lagBytes: undefined,
      lagSeconds: 9
    })
  })

  it("a null position is unknown", () => {
    expect(Probe.read({ standby: true, lsn: null, lag_seconds: 5 }, 50331744n)).toEqual({
      role: "standby",
      walLsn: undefined,
      lagBytes: undefined,
      lagSeconds: 5
    })
    expect(Probe.read({ standby: false, lsn: null, lag_seconds: 0 }, undefined)).toEqual({
      role: "primary",
      walLsn: undefined,
      lagBytes: undefined,
      lagSeconds: undefined
    })
  })
})
