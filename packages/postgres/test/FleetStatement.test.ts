import * as PgClient from "@effect/sql-pg/PgClient"
import * as Statement from "@effect/sql/Statement"
import { StatementText } from "@pgfleet/core"
import * as Effect from "effect/Effect"
import { describe, expect, it } from "vitest"
import type { Runner } from "../src/internal/postgres/fleetStatement.js"
import * as FleetStatement from "../src/internal/postgres/fleetStatement.js"

// effect/sql 0.x's constructor, as the Effect 3 clients build it; nothing here runs a statement.
const base = Statement.make(Effect.die("not run"), StatementText.keeping(PgClient.makeCompiler()), [], undefined)
const unused = () => {
  throw new Error("not run")
}
const runner: Runner = { run: unused, stream: unused }
const sql = FleetStatement.wrapConstructor(base, runner, undefined)

/** Each call makes its statements anew, from the same template sites, as code in a loop does. */
const made = (s: typeof base, i: number) => [
  s`SELECT 1`,
  s`SELECT * FROM kv WHERE id = ${i} AND v = ${`v${i}`}`,
  s`${i}`,
  s`SELECT ${i % 2 === 0 ? null : new Date(i)} AS d, ${[i, i + 1]}::int[] AS a`,
  // Values that are not plain: a fragment, a helper, an identifier, a JSON value.
  s`SELECT * FROM (${s`SELECT ${i} AS n`}) AS t WHERE n IN ${s.in([i, i + 1])}`,
  s`SELECT ${s("v")} FROM kv WHERE id = ${i}`,
  s`UPDATE kv SET ${s.update({ v: `v${i}` })} WHERE id = ${i}`,
  // The same site, its values plain on some calls and a fragment on others.
  s`SELECT ${i % 3 === 0 ? s`now()` : i} AS x`,
  s.unsafe(`SELECT $1::int AS n`, [i])
]

describe("fleet statements", () => {
  it("compile to the text and parameters @effect/sql gives, and hold its segments, call after call", () => {
    for (let i = 0; i < 6; i++) {
      const ours = made(sql, i)
      const theirs = made(base, i)
      expect(ours.map((s) => s.compile())).toEqual(theirs.map((s) => s.compile()))
      expect(ours.map((s) => s.compile(true))).toEqual(theirs.map((s) => s.compile(true)))
      expect(ours.map((s) => s.segments)).toEqual(theirs.map((s) => s.segments))
    }
  })

  it("run through the fleet's runner, as a whole statement or as a fragment of another", () => {
    const ran: Array<[string, string]> = []
    const recording: Runner = {
      run: (operation, statement) => {
        ran.push([operation, statement.compile()[0]])
        return Effect.succeed([] as any)
      },
      stream: unused
    }
    const routed = FleetStatement.wrapConstructor(base, recording, undefined)
    const lookup = (id: number) => routed`SELECT v FROM kv WHERE id = ${id}`
    for (let i = 0; i < 3; i++) {
      Effect.runSync(lookup(i))
      Effect.runSync(lookup(i).values)
    }
    // Used as a fragment, a kept statement gives its segments to the outer one.
    const outer = routed`SELECT * FROM (${lookup(9)}) AS t`
    expect(outer.compile()).toEqual(["SELECT * FROM (SELECT v FROM kv WHERE id = $1) AS t", [9]])
    expect(ran).toEqual(
      Array.from({ length: 3 }, () => [
        ["execute", "SELECT v FROM kv WHERE id = $1"],
        ["executeValues", "SELECT v FROM kv WHERE id = $1"]
      ]).flat()
    )
  })
})
