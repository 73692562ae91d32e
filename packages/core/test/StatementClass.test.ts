import { assert, beforeAll, describe, expect, it } from "vitest"
import { StatementClass } from "../src/index.js"

beforeAll(async () => {
  await StatementClass.loadParser()
})

const classify = StatementClass.classifyText
const side = (sql: string) => classify(sql).side

describe("StatementClass.classifyText", () => {
  it("a plain SELECT reads", () => {
    expect(classify("SELECT * FROM accounts WHERE id = $1")).toEqual({
      side: "reader",
      reason: "parsed-read",
      functions: [],
      ddl: false
    })
  })

  it("INSERT, UPDATE, DELETE and MERGE write", () => {
    expect(classify("INSERT INTO t (a) VALUES (1)")).toEqual({
      side: "writer",
      reason: "statement:InsertStmt",
      functions: [],
      ddl: false
    })
    assert.strictEqual(classify("UPDATE t SET a = 1").reason, "statement:UpdateStmt")
    assert.strictEqual(classify("DELETE FROM t WHERE a = 1").reason, "statement:DeleteStmt")
    assert.strictEqual(
      classify("MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE").reason,
      "statement:MergeStmt"
    )
    for (
      const sql of [
        "UPDATE t SET a = 1",
        "DELETE FROM t",
        "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE"
      ]
    ) {
      assert.strictEqual(side(sql), "writer", sql)
    }
  })

  it("a SELECT over a writing CTE writes", () => {
    expect(classify("WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d")).toMatchObject({
      side: "writer",
      reason: "writing-cte"
    })
    assert.strictEqual(
      classify("WITH i AS (INSERT INTO t VALUES (1) RETURNING id) SELECT id FROM i").reason,
      "writing-cte"
    )
    // A reading CTE stays a read.
    assert.strictEqual(side("WITH r AS (SELECT 1 AS x) SELECT x FROM r"), "reader")
  })

  it("locking clauses write", () => {
    assert.deepStrictEqual(classify("SELECT * FROM t WHERE id = 1 FOR UPDATE"), {
      side: "writer",
      reason: "lock-clause",
      functions: [],
      ddl: false
    })
    assert.strictEqual(classify("SELECT * FROM t FOR NO KEY UPDATE").reason, "lock-clause")
    assert.strictEqual(classify("SELECT * FROM t FOR SHARE SKIP LOCKED").reason, "lock-clause")
  })

  it("writing built-in functions write", () => {
    expect(classify("SELECT nextval('s')")).toEqual({
      side: "writer",
      reason: "writing-function:nextval",
      functions: ["nextval"],
      ddl: false
    })
    assert.strictEqual(classify("SELECT pg_advisory_lock(42)").reason, "writing-function:pg_advisory_lock")
    assert.strictEqual(classify("SELECT pg_catalog.setval('s', 10)").reason, "writing-function:setval")
    assert.strictEqual(classify("SELECT id FROM t WHERE id > NEXTVAL('s')").reason, "writing-function:nextval")
  })

  it("other functions read when classified by the grammar alone", () => {
    expect(classify("SELECT lower(name), now() FROM t")).toEqual({
      side: "reader",
      reason: "parsed-read",
      functions: ["lower", "now"],
      ddl: false
    })
  })

  it("SELECT ... INTO a new table writes", () => {
    assert.deepStrictEqual(classify("SELECT * INTO new_table FROM t"), {
      side: "writer",
      reason: "select-into",
      functions: [],
      ddl: false
    })
  })

  it("SHOW and a plain EXPLAIN read", () => {
    expect(classify("SHOW search_path")).toEqual({ side: "reader", reason: "show", functions: [], ddl: false })
    expect(classify("EXPLAIN SELECT * FROM t")).toEqual({
      side: "reader",
      reason: "explain",
      functions: [],
      ddl: false
    })
    // Without ANALYZE nothing runs, whatever the statement.
    assert.strictEqual(classify("EXPLAIN DELETE FROM t").reason, "explain")
    assert.strictEqual(classify("EXPLAIN (ANALYZE false) DELETE FROM t").side, "reader")
  })

  it("EXPLAIN ANALYZE goes where its statement would", () => {
    expect(classify("EXPLAIN ANALYZE DELETE FROM t")).toEqual({
      side: "writer",
      reason: "explain-analyze:statement:DeleteStmt",
      functions: [],
      ddl: false
    })
    assert.strictEqual(
      classify("EXPLAIN (ANALYZE, BUFFERS) SELECT nextval('s')").reason,
      "explain-analyze:writing-function:nextval"
    )
    expect(classify("EXPLAIN ANALYZE SELECT * FROM t")).toEqual({
      side: "reader",
      reason: "explain-analyze-read",
      functions: [],
      ddl: false
    })
  })

  it("a multi-statement text reads only if every part reads", () => {
    assert.strictEqual(classify("SELECT 1; SELECT 2").side, "reader")
    assert.strictEqual(classify("SELECT 1; SELECT 2").reason, "parsed-read")
    expect(classify("SELECT lower('a'); SHOW work_mem")).toEqual({
      side: "reader",
      reason: "parsed-read",
      functions: ["lower"],
      ddl: false
    })
    expect(classify("SELECT lower('a'); DELETE FROM t")).toEqual({
      side: "writer",
      reason: "statement:DeleteStmt",
      functions: ["lower"],
      ddl: false
    })
    assert.strictEqual(classify("SELECT 1; SELECT * FROM t FOR UPDATE").reason, "lock-clause")
  })

  it("SQL the parser refuses goes to the writer", () => {
    assert.deepStrictEqual(classify("SELEC 1"), { side: "writer", reason: "parse-failed", functions: [], ddl: false })
    assert.strictEqual(classify("SELECT FROM WHERE (").reason, "parse-failed")
    assert.strictEqual(StatementClass.parseFailed.side, "writer")
    assert.strictEqual(StatementClass.parseFailed.reason, "parse-failed")
  })

  it("DDL writes and says so", () => {
    expect(classify("CREATE TABLE x (a int)")).toEqual({
      side: "writer",
      reason: "statement:CreateStmt",
      functions: [],
      ddl: true
    })
    assert.isTrue(classify("CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'").ddl)
    assert.isTrue(classify("ALTER FUNCTION f() STABLE").ddl)
    assert.isTrue(classify("DROP FUNCTION f()").ddl)
    assert.isTrue(classify("ALTER TABLE t ADD COLUMN c int").ddl)
    // DDL anywhere in a multi-statement text.
    assert.isTrue(classify("SELECT 1; DROP TABLE t").ddl)
  })

  it("other statements write but are not DDL", () => {
    for (
      const [sql, kind] of [
        ["SET search_path = app", "VariableSetStmt"],
        ["BEGIN", "TransactionStmt"],
        ["TRUNCATE t", "TruncateStmt"],
        ["VACUUM t", "VacuumStmt"]
      ] as const
    ) {
      expect(classify(sql), sql).toEqual({ side: "writer", reason: `statement:${kind}`, functions: [], ddl: false })
    }
  })
})

describe("StatementClass.classifyParse", () => {
  it("an empty parse goes to the writer", () => {
    expect(StatementClass.classifyParse({ stmts: [] }, () => undefined)).toEqual({
      side: "writer",
      reason: "empty",
      functions: [],
      ddl: false
    })
  })
})

describe("StatementClass.classifier", () => {
  it("prepare names the functions whose volatility is unknown, but not writing built-ins", () => {
    const classifier = StatementClass.classifier(10)
    const pending = classifier.prepare("SELECT my_fn(1), nextval('s'), other_fn(id) FROM t")
    assert.strictEqual(pending.sql, "SELECT my_fn(1), nextval('s'), other_fn(id) FROM t")
    assert.deepStrictEqual([...pending.missing].sort(), ["my_fn", "other_fn"])
    assert.deepStrictEqual(classifier.prepare("SELECT 1").missing, [])
    assert.deepStrictEqual(classifier.prepare("SELECT public.My_Fn(1)").missing, ["my_fn"])
  })

  it("a volatile user function sends the statement to the writer", () => {
    const classifier = StatementClass.classifier(10)
    const pending = classifier.prepare("SELECT my_fn(1)")
    assert.deepStrictEqual(pending.missing, ["my_fn"])
    classifier.learn([{ name: "my_fn", user_volatile: true }])
    expect(classifier.decide(pending)).toEqual({
      side: "writer",
      reason: "volatile-function:my_fn",
      functions: ["my_fn"],
      ddl: false
    })
  })

  it("a stable function reads", () => {
    const classifier = StatementClass.classifier(10)
    const pending = classifier.prepare("SELECT stable_fn(1)")
    classifier.learn([{ name: "stable_fn", user_volatile: false }])
    expect(classifier.decide(pending)).toEqual({
      side: "reader",
      reason: "parsed-read",
      functions: ["stable_fn"],
      ddl: false
    })
  })

  it("learnt functions are no longer missing", () => {
    const classifier = StatementClass.classifier(10)
    classifier.learn([{ name: "my_fn", user_volatile: false }])
    assert.deepStrictEqual(classifier.prepare("SELECT my_fn(1), other_fn(2)").missing, ["other_fn"])
  })

  it("a function still unknown when deciding sends the statement to the writer", () => {
    const classifier = StatementClass.classifier(10)
    const pending = classifier.prepare("SELECT no_such_fn(1)")
    classifier.learn([])
    expect(classifier.decide(pending)).toMatchObject({ side: "writer", reason: "unknown-function:no_such_fn" })
  })

  it("a writing built-in writes without any lookup", () => {
    const classifier = StatementClass.classifier(10)
    const pending = classifier.prepare("SELECT nextval('s')")
    assert.deepStrictEqual(pending.missing, [])
    assert.strictEqual(classifier.decide(pending).reason, "writing-function:nextval")
  })

  it("SQL the parser refuses is decided as parse-failed", () => {
    const classifier = StatementClass.classifier(10)
    const pending = classifier.prepare("SELEC 1")
    assert.deepStrictEqual(pending.missing, [])
    assert.strictEqual(pending.parsed, undefined)
    assert.deepStrictEqual(classifier.decide(pending), StatementClass.parseFailed)
    assert.deepStrictEqual(classifier.cached("SELEC 1"), StatementClass.parseFailed)
  })

  it("cached answers after decide, and only for that text", () => {
    const classifier = StatementClass.classifier(10)
    assert.strictEqual(classifier.cached("SELECT 1"), undefined)
    const decided = classifier.decide(classifier.prepare("SELECT 1"))
    assert.strictEqual(classifier.cached("SELECT 1"), decided)
    assert.strictEqual(classifier.cached("SELECT  1"), undefined)
    assert.deepStrictEqual(classifier.size(), { entries: 1, capacity: 10 })
  })

  it("holds at most capacity texts, forgetting the least recently used", () => {
    const classifier = StatementClass.classifier(2)
    for (const sql of ["SELECT 1", "SELECT 2", "SELECT 3"]) classifier.decide(classifier.prepare(sql))
    assert.deepStrictEqual(classifier.size(), { entries: 2, capacity: 2 })
    assert.strictEqual(classifier.cached("SELECT 1"), undefined)
    assert.strictEqual(classifier.cached("SELECT 2")?.side, "reader")
    assert.strictEqual(classifier.cached("SELECT 3")?.side, "reader")
  })

  it("reading an entry makes it recent", () => {
    const classifier = StatementClass.classifier(2)
    classifier.decide(classifier.prepare("SELECT 1"))
    classifier.decide(classifier.prepare("SELECT 2"))
    assert.isDefined(classifier.cached("SELECT 1"))
    classifier.decide(classifier.prepare("SELECT 3"))
    assert.strictEqual(classifier.cached("SELECT 1")?.reason, "parsed-read")
    assert.strictEqual(classifier.cached("SELECT 2"), undefined)
    assert.strictEqual(classifier.cached("SELECT 3")?.reason, "parsed-read")
    assert.strictEqual(classifier.size().entries, 2)
  })

  it("deciding a text again replaces its entry without growing", () => {
    const classifier = StatementClass.classifier(2)
    classifier.decide(classifier.prepare("SELECT 1"))
    classifier.decide(classifier.prepare("SELECT 1"))
    assert.strictEqual(classifier.size().entries, 1)
  })

  it("invalidate drops only the classifications that depended on functions, and forgets volatility", () => {
    const classifier = StatementClass.classifier(10)
    classifier.learn([{ name: "my_fn", user_volatile: false }])
    const texts = ["SELECT 1", "DELETE FROM t", "SELECT my_fn(1)", "SELECT nextval('s')"]
    for (const sql of texts) classifier.decide(classifier.prepare(sql))
    assert.strictEqual(classifier.cached("SELECT my_fn(1)")?.side, "reader")
    assert.strictEqual(classifier.size().entries, 4)

    classifier.invalidate()
    assert.strictEqual(classifier.size().entries, 2)
    assert.strictEqual(classifier.cached("SELECT 1")?.reason, "parsed-read")
    assert.strictEqual(classifier.cached("DELETE FROM t")?.reason, "statement:DeleteStmt")
    assert.strictEqual(classifier.cached("SELECT my_fn(1)"), undefined)
    assert.strictEqual(classifier.cached("SELECT nextval('s')"), undefined)
    // The function's volatility must be looked up again.
    const pending = classifier.prepare("SELECT my_fn(1)")
    assert.deepStrictEqual(pending.missing, ["my_fn"])
    assert.strictEqual(classifier.decide(pending).reason, "unknown-function:my_fn")
  })

  it("after invalidate a function learnt volatile changes the decision", () => {
    const classifier = StatementClass.classifier(10)
    classifier.learn([{ name: "my_fn", user_volatile: false }])
    assert.strictEqual(classifier.decide(classifier.prepare("SELECT my_fn(1)")).side, "reader")
    classifier.invalidate()
    const pending = classifier.prepare("SELECT my_fn(1)")
    classifier.learn([{ name: "my_fn", user_volatile: true }])
    assert.strictEqual(classifier.decide(pending).side, "writer")
    assert.strictEqual(classifier.cached("SELECT my_fn(1)")?.reason, "volatile-function:my_fn")
  })
})

describe("StatementClass.unknownFunctions", () => {
  it("names functions neither writing built-ins nor known", () => {
    const classifier = StatementClass.classifier(1)
    const { parsed } = classifier.prepare("SELECT a_fn(1), b_fn(2), setval('s', 1), lo_import('/x')")
    assert.deepStrictEqual(StatementClass.unknownFunctions(parsed, (name) => name === "b_fn"), ["a_fn"])
  })
})
