import * as PgClient from "@effect/sql-pg/PgClient"
import { StatementText } from "@pgfleet/core"
import * as Effect from "effect/Effect"
import type { Connection } from "effect/sql/SqlConnection"
import * as Statement from "effect/sql/Statement"
import * as Stream from "effect/Stream"
import { describe, expect, it } from "vitest"
import * as FleetStatement from "../src/internal/postgres/fleetStatement.js"

/** A connection that records each operation it runs, and where it came from. */
const recording = (via: string, ran: Array<[string, string, string]>): Connection => {
  const run = (operation: string) => (sql: string) => {
    ran.push([via, operation, sql])
    return Effect.succeed([] as any)
  }
  return {
    execute: run("execute"),
    executeUnprepared: run("executeUnprepared"),
    executeRaw: run("executeRaw"),
    executeValues: run("executeValues"),
    executeValuesUnprepared: run("executeValuesUnprepared"),
    executeStream: () => Stream.empty
  }
}

const compiler = StatementText.keeping(PgClient.makeCompiler())
const ran: Array<[string, string, string]> = []
// effect/sql 4's constructor, as SqlClient.make builds it, over a connection of its own.
const base = Statement.make(Effect.succeed(recording("effect/sql", ran)), compiler, [], undefined)
let direct = true
const sql = FleetStatement.wrapConstructor(base, {
  routed: recording("routed", ran),
  transformRows: undefined,
  direct: () => direct
})

/** Each call makes its statements anew, from the same template sites, as code in a loop does. */
const made = (s: typeof base, i: number) => [
  s`SELECT 1`,
  s`SELECT * FROM kv WHERE id = ${i} AND v = ${`v${i}`}`,
  s`${i}`,
  s`SELECT ${i % 2 === 0 ? null : new Date(i)} AS d, ${[i, i + 1]}::int[] AS a, ${BigInt(i)} AS b`,
  // Values that are not plain: a fragment, a helper, an identifier, a JSON value.
  s`SELECT * FROM (${s`SELECT ${i} AS n`}) AS t WHERE n IN ${s.in([i, i + 1])}`,
  s`SELECT ${s("v")} FROM kv WHERE id = ${i}`,
  s`UPDATE kv SET ${s.update({ v: `v${i}` })} WHERE id = ${i}`,
  // The same site, its values plain on some calls and a fragment on others.
  s`SELECT ${i % 3 === 0 ? s`now()` : i} AS x`,
  s.unsafe(`SELECT $1::int AS n`, [i])
]

describe("fleet statements (Effect 4)", () => {
  it("compile to the text and parameters effect/sql gives, and hold its segments, call after call", () => {
    for (let i = 0; i < 6; i++) {
      const ours = made(sql, i)
      const theirs = made(base, i)
      expect(ours.map((s) => s.compile())).toEqual(theirs.map((s) => s.compile()))
      expect(ours.map((s) => s.compile(true))).toEqual(theirs.map((s) => s.compile(true)))
      expect(ours.map((s) => s.segments)).toEqual(theirs.map((s) => s.segments))
      expect(ours.every(Statement.isFragment)).toBe(true)
    }
  })

  it("run on the routed connection when the fiber may, and as effect/sql's own statement otherwise", () => {
    const lookup = (id: number) => sql`SELECT v FROM kv WHERE id = ${id}`
    const all = (id: number) =>
      Effect.all([
        lookup(id),
        lookup(id).values,
        lookup(id).raw,
        lookup(id).unprepared,
        lookup(id).valuesUnprepared,
        lookup(id).withoutTransform
      ])
    const text = "SELECT v FROM kv WHERE id = $1"
    const operations = ["execute", "executeValues", "executeRaw", "executeUnprepared", "executeValuesUnprepared"]
    const expected = (via: string) => [...operations, "execute"].map((operation) => [via, operation, text])
    ran.length = 0
    Effect.runSync(all(0)) // the first call of each site learns its text
    ran.length = 0
    direct = true
    Effect.runSync(all(1))
    expect(ran).toEqual(expected("routed"))
    ran.length = 0
    direct = false
    Effect.runSync(all(2))
    expect(ran).toEqual(expected("effect/sql"))
    direct = true
    // Used as a fragment, a kept statement gives its segments to the outer one.
    expect(sql`SELECT * FROM (${lookup(9)}) AS t`.compile()).toEqual([
      "SELECT * FROM (SELECT v FROM kv WHERE id = $1) AS t",
      [9]
    ])
  })
})
