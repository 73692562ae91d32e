import { Members } from "@pgfleet/core"
import { assert, describe, it } from "vitest"

const pool = (host: string) => ({ host: `${host}:5432`, address: { host, port: 5432 } })
const settings = {
  fleetName: "default",
  writers: [{ host: "db1", port: 5432 }, { host: "db2", port: 5432 }],
  healthFailureThreshold: 3
}

describe("Members", () => {
  it("a listed replica that answers as primary is out of its reader role, and up once it is the writer", () => {
    const writer = { ...pool("db1") }
    const table = Members.make(settings, writer, [pool("db2")])
    const replica = table.get("db2:5432")!
    assert.isTrue(table.upInRole(replica))
    table.health(replica).observedRole = "primary"
    assert.strictEqual(table.roleOf(replica), "reader")
    assert.isFalse(table.upInRole(replica), "a primary listed as a reader is not up as a reader")
    // Writes follow the promotion: the writer's host is read live.
    writer.host = "db2:5432"
    assert.strictEqual(table.roleOf(replica), "writer")
    assert.isTrue(table.upInRole(replica), "the promoted replica is up as the writer")
    const old = table.get("db1:5432")!
    table.health(old).observedRole = "standby"
    assert.strictEqual(table.roleOf(old), "candidate")
    assert.isTrue(table.upInRole(old), "the old primary, back as a standby, is up as the candidate it now is")
  })

  it("upSeries names the role a host's pgfleet_host_up is under, and the role it left once, when it changes", () => {
    const writer = { ...pool("db1") }
    const table = Members.make(settings, writer, [pool("db2")])
    const replica = table.get("db2:5432")!
    assert.deepStrictEqual(table.upSeries(replica), { role: "reader", left: undefined })
    assert.deepStrictEqual(table.upSeries(replica), { role: "reader", left: undefined })
    writer.host = "db2:5432"
    assert.deepStrictEqual(table.upSeries(replica), { role: "writer", left: "reader" })
    assert.deepStrictEqual(
      table.upSeries(replica),
      { role: "writer", left: undefined },
      "the series it left is zeroed once"
    )
  })
})
