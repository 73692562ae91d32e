import * as PgClient from "@effect/sql-pg/PgClient"
import { StatementText } from "@pgfleet/core"
import { Effect } from "effect"
import { Statement } from "effect/sql"
import { describe, expect, it } from "vitest"

// Two constructors over sql-pg 4's compiler, one keeping texts; their acquirers never run (only `compile` does).
const compiler = PgClient.makeCompiler((s) => s.toUpperCase())
const kept = StatementText.keeping(compiler)
const plainSql = Statement.make(Effect.die("not run"), compiler, [], undefined)
const keptSql = Statement.make(Effect.die("not run either"), kept, [], undefined)

type Sql = typeof plainSql
/** Statements of every kind, some sharing their first literal, each made anew from `i`. */
const statements: ReadonlyArray<(sql: Sql, i: number) => Statement.Statement<unknown>> = [
  (sql) => sql`SELECT 1`,
  (sql, i) => sql`SELECT v FROM kv WHERE id = ${i}`,
  (sql, i) => sql`SELECT v FROM kv WHERE id = ${i} AND v = ${`v${i}`}`,
  (sql, i) => sql`SELECT v FROM kv WHERE id IN ${sql.in([i, i + 1, i + 2].slice(0, 1 + (i % 3)))}`,
  (sql, i) => sql`SELECT ${sql("someColumn")} FROM kv WHERE id = ${i}`,
  (sql, i) => sql`SELECT v FROM kv WHERE id = ${i} ${i % 2 === 0 ? sql`AND true` : sql``}`,
  (sql, i) => sql`${i}::int AS n`,
  (sql, i) => sql`INSERT INTO kv ${sql.insert({ id: i, v: "x" })}`,
  (sql, i) => sql`SELECT ${sql.literal(`${i % 4}`)} AS lit, ${i} AS p`,
  (sql, i) => sql.unsafe(`SELECT $1::int + ${i % 3}`, [i]),
  (sql, i) => sql.unsafe(`SELECT ${i % 5} AS n`),
  (sql, i) => sql`SELECT ${i} AS a, ${i * 2} AS b`,
  // The same shape with another literal inside: only the texts tell them apart.
  (sql, i) => sql`SELECT v FROM ${sql.literal(i % 2 === 0 ? "kv" : "kv_old")} WHERE id = ${i}`
]

describe("StatementText.keeping (sql-pg 4's compiler)", () => {
  it("gives every statement the text and parameters the compiler gives, however often its shape recurs", () => {
    let compared = 0
    const compare = (make: (typeof statements)[number], i: number) => {
      expect(make(keptSql, i).compile()).toEqual(make(plainSql, i).compile())
      expect(make(keptSql, i).compile(true)).toEqual(make(plainSql, i).compile(true))
      compared++
    }
    // Each statement many times in a row, then all of them in turn.
    for (const make of statements) for (let i = 0; i < 20; i++) compare(make, i)
    for (let i = 0; i < 20; i++) for (const make of statements) compare(make, i)
    expect(compared).toBe(40 * statements.length)
  })

  it("keeps the text of a plain statement: it no longer asks the compiler", () => {
    let asked = 0
    const counting = StatementText.keeping({
      dialect: compiler.dialect,
      compile: (statement, withoutTransform) => {
        asked++
        return compiler.compile(statement as Statement.Fragment, withoutTransform)
      },
      withoutTransform: compiler.withoutTransform
    })
    const sql = Statement.make(Effect.die("counted"), counting as unknown as Statement.Compiler, [], undefined)
    const texts = [1, 2, 3].map((id) => sql`SELECT v FROM kv WHERE id = ${id}`.compile())
    expect(texts).toEqual([1, 2, 3].map((id) => ["SELECT v FROM kv WHERE id = $1", [id]]))
    expect(asked).toBe(1)
    // An identifier makes the text depend on the compiler's transform: compiled every time.
    sql`SELECT ${sql("a")} FROM kv`.compile()
    sql`SELECT ${sql("a")} FROM kv`.compile()
    expect(asked).toBe(3)
  })

  it("leaves other dialects' compilers as they are: their placeholders may depend on the value", () => {
    const sqlite = Statement.makeCompilerSqlite()
    expect(StatementText.keeping(sqlite)).toBe(sqlite)
    expect(StatementText.keeping(compiler)).not.toBe(compiler)
  })
})
