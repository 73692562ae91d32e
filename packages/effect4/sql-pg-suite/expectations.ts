/**
 * Tests of the vendored suite that are known to fail on the client under test, each with its reason.
 * The @effect/vitest shim runs them as `it.fails`, so each must still fail: one that starts passing
 * fails the run until it is taken off this list. A reason starting "skip:" skips the test instead
 * (used only for tests that hang to the 60 s timeout on sql-pg's own client as well).
 * Keys: "<describe block> > <test name>", or the test name alone outside any block.
 */

/** Written for the Effect repository's main branch (sql-pg 4.0.0-rc.111), failing on the installed 4.0.5 itself. */
const otherVersion: Record<string, string> = {
  "PgClient > updateValues helper":
    "sql-pg 4.0.5's compiler (PgClient.makeCompiler, which pgfleet uses too) quotes the VALUES alias, " +
    "`AS \"data\"(\"name\")`; the test expects `AS data(\"name\")`",
  "PgClient > updateValues helper returning": "as above: the VALUES alias is quoted by sql-pg 4.0.5's compiler",
  "PgClient > update fragments": "as above: the VALUES alias is quoted by sql-pg 4.0.5's compiler",
  "PgClient.makeClient handles errors emitted while connecting":
    "mocks node-postgres's pg.Client.connect around sql-pg's own makeClient; 4.0.5's makeClient speaks the " +
    "protocol itself and fails first with \"No username configured\" (not about the provided client)",
  "serializes transactions that share one pg.Client":
    "calls PgClient.fromClient, which the published 4.x does not have (not about the provided client)",
  "PgClient listen > listen does not reserve a pool connection":
    "uses sql.listen(channel) as a Stream; 4.0.5's PgClient.listen (and pgfleet's, which follows it) returns " +
    "Effect<Queue.Dequeue>",
  "PgClient listen > notify sends payload": "as above: listen is a Stream in the test, a Queue in 4.0.5",
  "KeyValueStore (sql-pg) > binary values":
    "the shared suite calls Encoding.encodeBase64 from \"effect\"; effect 4.1.0 has no Encoding at its root " +
    "(it is effect/encoding): a TypeError before any SQL",
  "KeyValueStore (sql-pg-custom-table) > binary values": "as above: no Encoding export in effect 4.1.0",
  "PersistedQueue (sql-pg) > failure":
    "skip: times out at 60 s on sql-pg 4.0.5's own client too (effect 4.1.0's PersistedQueue against main's suite)",
  "PersistedQueue (sql-pg) > counts schema decode failures as attempts":
    "skip: times out at 60 s on sql-pg 4.0.5's own client too",
  "PersistedQueue SQL locks > counts malformed JSON as an attempt and continues":
    "its first take is expected to fail on the malformed element and does not with effect 4.1.0's " +
    "PersistedQueue; the same on sql-pg 4.0.5's own client"
}

/**
 * Passing on pgfleet (node-postgres underneath, as rc.111's sql-pg was) and failing on the installed 4.0.5.
 * The control expects them to fail; pgfleet's writer must pass them.
 */
const controlOnly: Record<string, string> = {
  "PgClient > jsonb": "sql-pg 4.0.5 refuses a plain object parameter: \"Failed to encode query\"",
  "PgClient transforms > multi-statement queries":
    "sql-pg 4.0.5 prepares every statement, and PostgreSQL refuses several commands in one prepared statement",
  "PgClient transforms > Should populate config": "sql-pg 4.0.5's config keeps the url without host/port/user fields"
}

/** The writer's list plus the tests that cannot pass on a replica (see the README for the count). */
const onReplica: Record<string, string> = {
  "PgClient > preserves successful concurrent nested transactions":
    "writes: CREATE TEMP TABLE on a standby fails with 25006 (cannot execute CREATE TABLE in a read-only transaction)",
  "PgClient transforms > multi-statement queries": "writes: CREATE TABLE and INSERT on a standby fail with 25006"
}

/** Failing on sql-pg 4.0.5's own connections, as they do on its own client: the writer with DB_DRIVER=sql-pg. */
const sqlPgDriver: Record<string, string> = {
  "PgClient > jsonb": controlOnly["PgClient > jsonb"]!,
  "PgClient transforms > multi-statement queries": controlOnly["PgClient transforms > multi-statement queries"]!
}

const lists: Record<string, Record<string, string>> = {
  writer: otherVersion,
  "writer-sql-pg": { ...otherVersion, ...sqlPgDriver },
  reader: { ...otherVersion, ...onReplica },
  "sql-pg": { ...otherVersion, ...controlOnly }
}

/** The reason a test is expected to fail on the client under test, if it is. */
export const expectedFailure = (suite: string, test: string): string | undefined => {
  const key = suite === "" ? test : `${suite} > ${test}`
  if (process.env.PGFLEET_SUITE_KEYS) console.log(`KEY ${key}`)
  return lists[process.env.PGFLEET_SUITE_CLIENT ?? "writer"]?.[key]
}

/** Every list, for the README's counts. */
export const all = { otherVersion, controlOnly, onReplica, sqlPgDriver }
