/**
 * The pg.auto corpus: SQL text, the side it must run on, and its parameters;
 * shared by the Effect 3 line's and the Effect 4 line's routing tests.
 */

export type Side = "reader" | "writer"

/**
 * The corpus: SQL text, the side it must run on, and its parameters. `run:
 * false` entries are only classified (they cannot run on a pooled
 * autocommit connection, or need more than this cluster has).
 */
export interface Case {
  readonly sql: string
  readonly side: Side
  readonly params?: ReadonlyArray<unknown>
  readonly run?: boolean
  /** Several statements in one text: node-postgres runs them (simple protocol); a driver that parses each text (sql-pg 4) refuses it. */
  readonly multiStatement?: boolean
  /** The reason the classification must give, where it is the point of the case. */
  readonly reason?: string
}

let nextId = 1000
const id = () => nextId++

export const corpus: ReadonlyArray<Case> = [
  // Reads.
  { sql: "SELECT current_setting('port')::int AS port", side: "reader", reason: "parsed-read" },
  { sql: "select current_setting('port')::int as port", side: "reader" },
  { sql: "/* a comment */ SELECT current_setting('port')::int AS port", side: "reader" },
  { sql: "-- a line comment\nSELECT current_setting('port')::int AS port", side: "reader" },
  { sql: "SELECT v, current_setting('port')::int AS port FROM items WHERE id = $1", side: "reader", params: [1] },
  { sql: "SELECT v FROM items WHERE id = ANY($1)", side: "reader", params: [[1, 2]] },
  { sql: "VALUES (1), (2)", side: "reader" },
  { sql: "TABLE items", side: "reader" },
  { sql: "SHOW port", side: "reader", reason: "show" },
  { sql: "SHOW transaction_isolation", side: "reader" },
  { sql: "EXPLAIN SELECT * FROM items", side: "reader", reason: "explain" },
  { sql: "EXPLAIN INSERT INTO items VALUES (1, 'never')", side: "reader", reason: "explain" },
  { sql: "EXPLAIN ANALYZE SELECT * FROM items", side: "reader" },
  { sql: "SELECT * FROM items UNION SELECT * FROM items", side: "reader" },
  { sql: "SELECT id, v FROM items UNION ALL SELECT id, v FROM items ORDER BY 1 LIMIT 5", side: "reader" },
  { sql: "SELECT * FROM items INTERSECT SELECT * FROM items", side: "reader" },
  { sql: "WITH x AS (SELECT * FROM items) SELECT count(*) FROM x", side: "reader" },
  {
    sql: "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) SELECT sum(n) FROM r",
    side: "reader"
  },
  { sql: "SELECT random(), clock_timestamp(), gen_random_uuid()", side: "reader" },
  { sql: "SELECT now(), current_timestamp", side: "reader" },
  { sql: "SELECT stable_count(), current_setting('port')::int AS port", side: "reader" },
  { sql: "SELECT immutable_double(21) AS n", side: "reader" },
  { sql: "SELECT count(*) FROM items WHERE v LIKE 'a%'", side: "reader" },
  { sql: "SELECT (SELECT max(id) FROM items) AS m", side: "reader" },
  { sql: "SELECT EXISTS (SELECT 1 FROM items WHERE id = 1)", side: "reader" },
  { sql: "SELECT json_build_object('a', 1)", side: "reader" },
  { sql: "SELECT * FROM generate_series(1, 3)", side: "reader" },
  { sql: "SELECT 1; SELECT current_setting('port')::int AS port", side: "reader", multiStatement: true },
  { sql: "SELECT txid_current_if_assigned()", side: "reader" },
  { sql: "SELECT nextval FROM (SELECT 1 AS nextval) AS x", side: "reader" },
  { sql: "SELECT 'nextval(''ids'')' AS looks_like_a_call", side: "reader" },
  { sql: "SELECT current_setting('work_mem')", side: "reader" },
  { sql: "SELECT $1::int + $2::int AS sum", side: "reader", params: [1, 2] },
  { sql: "SELECT * FROM items i JOIN items j ON i.id = j.id WHERE i.id < 3", side: "reader" },
  // Writes.
  { sql: "INSERT INTO items VALUES ($1, $2)", side: "writer", params: [id(), "inserted"] },
  { sql: "UPDATE items SET v = v WHERE id = -1", side: "writer" },
  { sql: "DELETE FROM items WHERE id = -1", side: "writer" },
  { sql: `INSERT INTO items VALUES (${id()}, 'x') ON CONFLICT DO NOTHING`, side: "writer" },
  {
    sql: "MERGE INTO items USING (VALUES (1)) AS s(id) ON items.id = s.id WHEN MATCHED THEN DO NOTHING",
    side: "writer"
  },
  // drizzle #4185: a SELECT whose CTE writes.
  {
    sql: `WITH x AS (INSERT INTO items VALUES (${id()}, 'cte') RETURNING id) SELECT * FROM x`,
    side: "writer",
    reason: "writing-cte"
  },
  {
    sql: "WITH w AS (UPDATE items SET v = v WHERE id = -1 RETURNING *), r AS (SELECT * FROM w) SELECT * FROM r",
    side: "writer",
    reason: "writing-cte"
  },
  // PostgreSQL refuses a writing CTE below the top level, but the classifier finds it at any depth.
  {
    sql:
      "WITH a AS (SELECT * FROM (WITH b AS (UPDATE items SET v = v WHERE id = -1 RETURNING *) SELECT * FROM b) AS x) SELECT * FROM a",
    side: "writer",
    reason: "writing-cte",
    run: false
  },
  { sql: "WITH d AS (DELETE FROM items WHERE id = -1 RETURNING *) SELECT count(*) FROM d", side: "writer" },
  { sql: "SELECT * FROM items WHERE id = 1 FOR UPDATE", side: "writer", reason: "lock-clause" },
  // pgcat #887.
  { sql: "SELECT * FROM items WHERE id = 1 FOR NO KEY UPDATE", side: "writer", reason: "lock-clause" },
  { sql: "SELECT * FROM items WHERE id = 1 FOR SHARE", side: "writer", reason: "lock-clause" },
  { sql: "SELECT * FROM items WHERE id = 1 FOR KEY SHARE", side: "writer", reason: "lock-clause" },
  { sql: "SELECT * FROM (SELECT * FROM items WHERE id = 1 FOR UPDATE) AS x", side: "writer", reason: "lock-clause" },
  // pgcat #489.
  { sql: "SELECT nextval('ids')", side: "writer", reason: "writing-function:nextval" },
  { sql: "select setval('ids', 5000)", side: "writer", reason: "writing-function:setval" },
  { sql: "SELECT pg_advisory_xact_lock(42)", side: "writer", reason: "writing-function:pg_advisory_xact_lock" },
  { sql: "SELECT pg_try_advisory_xact_lock(7)", side: "writer" },
  { sql: "SELECT pg_notify('corpus', 'x')", side: "writer" },
  { sql: "SELECT set_config('work_mem', '8MB', true)", side: "writer" },
  { sql: "SELECT txid_current()", side: "writer" },
  { sql: "SELECT lo_create(0)", side: "writer" },
  { sql: "SELECT insert_note()", side: "writer", reason: "volatile-function:insert_note" },
  { sql: "SELECT * FROM items WHERE id = insert_note()", side: "writer" },
  { sql: "SELECT * INTO TEMP items_copy FROM items", side: "writer", reason: "select-into" },
  { sql: `EXPLAIN ANALYZE INSERT INTO items VALUES (${id()}, 'explained')`, side: "writer" },
  { sql: "CREATE TABLE IF NOT EXISTS ddl_probe (id int)", side: "writer" },
  { sql: "CREATE INDEX IF NOT EXISTS items_v ON items (v)", side: "writer" },
  { sql: "SET application_name = 'pgfleet'", side: "writer" },
  { sql: "DO $$ BEGIN PERFORM 1; END $$", side: "writer" },
  { sql: "CALL noop_procedure()", side: "writer" },
  { sql: "NOTIFY corpus, 'y'", side: "writer" },
  { sql: "UNLISTEN *", side: "writer" },
  { sql: "ANALYZE items", side: "writer" },
  { sql: "GRANT SELECT ON items TO PUBLIC", side: "writer" },
  { sql: `SELECT 1; INSERT INTO items VALUES (${id()}, 'multi')`, side: "writer", multiStatement: true },
  { sql: "COPY items TO STDOUT", side: "writer", run: false },
  { sql: "LOCK TABLE items", side: "writer", run: false },
  { sql: "SELEC 1", side: "writer", reason: "parse-failed", run: false },
  { sql: "SELECT pg_logical_emit_message(true, 'p', 'x')", side: "writer", run: false }
]

export const schema = [
  "CREATE TABLE items (id int PRIMARY KEY, v text)",
  "INSERT INTO items SELECT g, 'a' || g FROM generate_series(1, 10) AS g",
  "CREATE SEQUENCE ids",
  "CREATE TABLE notes (id serial PRIMARY KEY, body text)",
  "CREATE FUNCTION insert_note() RETURNS int VOLATILE LANGUAGE sql AS $$ INSERT INTO notes (body) VALUES ('x') RETURNING 1 $$",
  "CREATE FUNCTION stable_count() RETURNS bigint STABLE LANGUAGE sql AS $$ SELECT count(*) FROM items $$",
  "CREATE FUNCTION immutable_double(int) RETURNS int IMMUTABLE LANGUAGE sql AS $$ SELECT $1 * 2 $$",
  "CREATE PROCEDURE noop_procedure() LANGUAGE sql AS $$ SELECT 1 $$"
]
