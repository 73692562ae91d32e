import * as PgClient from "@effect/sql-pg/PgClient"
import * as Statement from "@effect/sql/Statement"
import { StatementText } from "@pgfleet/core"
import * as Effect from "effect/Effect"
import { describe, expect, it } from "vitest"

// effect/sql 0.x's compiler, as the Effect 3 line's clients use it; the acquirers never run.
const compiler = PgClient.makeCompiler(undefined, true)
const plain = Statement.make(Effect.die("not run"), compiler, [], undefined)
const kept = Statement.make(Effect.die("not run either"), StatementText.keeping(compiler), [], undefined)

describe("StatementText.keeping (effect/sql 0.x's compiler)", () => {
  it("gives the text and parameters the compiler gives, as shapes recur and change", () => {
    const made = (sql: typeof plain, i: number) => [
      sql`SELECT ${i}::int AS n, ${`s${i}`} AS s`,
      sql`WITH t AS (SELECT ${i}::int AS n) SELECT n, ${sql.literal(i % 2 ? "1" : "2")} AS m FROM t`,
      sql`UPDATE kv SET ${sql.update({ v: `v${i}` })} WHERE id = ${i}`,
      sql`SELECT * FROM kv WHERE id IN ${sql.in(Array.from({ length: 1 + (i % 4) }, (_, k) => k))}`,
      sql.unsafe(`SELECT $1::int AS n`, [i]),
      sql`SELECT ${sql("v")} FROM kv WHERE id = ${i}`
    ]
    for (let i = 0; i < 30; i++) {
      const expected = made(plain, i).map((s) => s.compile())
      expect(made(kept, i).map((s) => s.compile())).toEqual(expected)
    }
  })
})
