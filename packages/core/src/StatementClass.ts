/**
 * The read/write decision for one SQL text, from PostgreSQL's own grammar
 * (libpg_query's parse tree), and a {@link Classifier} that keeps decisions
 * per text and function volatility per name. Pure: the volatility of user
 * functions comes in as a lookup, which the Effect packages run.
 *
 * @since 0.2.0
 */
import { loadModule, parseSync } from "libpg-query"

/**
 * Where a statement may run, and why.
 *
 * @since 0.2.0
 * @category models
 */
export interface Classification {
  readonly side: "reader" | "writer"
  /** `parsed-read`, `show`, `explain`, `lock-clause`, `select-into`, `writing-cte`, `volatile-function:name`, ... */
  readonly reason: string
  /** Functions the decision depends on (their volatility may change with DDL). */
  readonly functions: ReadonlyArray<string>
  /** True for DDL: function volatility may have changed. */
  readonly ddl: boolean
}

/**
 * What pg_proc says of a function name: any overload volatile, and whether it is a built-in.
 *
 * @since 0.2.0
 * @category models
 */
export interface FunctionInfo {
  readonly volatile: boolean
  readonly builtin: boolean
}

/** Built-in functions that write, lock or change server state: a statement calling one goes to the writer. */
const WRITING_BUILTINS = new Set([
  "nextval",
  "setval",
  "pg_notify",
  "set_config",
  "txid_current",
  "pg_current_xact_id",
  "pg_logical_emit_message",
  "pg_create_restore_point",
  "pg_switch_wal",
  "pg_backup_start",
  "pg_backup_stop",
  "pg_create_physical_replication_slot",
  "pg_create_logical_replication_slot",
  "pg_drop_replication_slot",
  "pg_copy_physical_replication_slot",
  "pg_copy_logical_replication_slot",
  "pg_replication_slot_advance",
  "pg_replication_origin_create",
  "pg_replication_origin_drop",
  "pg_logical_slot_get_changes",
  "pg_logical_slot_get_binary_changes",
  "pg_promote",
  "pg_reload_conf",
  "pg_rotate_logfile",
  "pg_cancel_backend",
  "pg_terminate_backend",
  "pg_import_system_collations",
  "pg_stat_reset",
  "pg_stat_reset_shared",
  "pg_stat_reset_single_table_counters",
  "pg_stat_reset_single_function_counters",
  "pg_stat_reset_slru",
  "pg_stat_reset_replication_slot",
  "pg_stat_reset_subscription_stats",
  "dblink_exec"
])
const WRITING_PREFIXES = ["pg_advisory_", "pg_try_advisory_", "lo_"]

/** Built-ins known to be stable or immutable, or volatile but read-only, need no lookup. */
const isWritingBuiltin = (name: string) =>
  WRITING_BUILTINS.has(name) || WRITING_PREFIXES.some((prefix) => name.startsWith(prefix))

const MODIFYING = new Set(["InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt"])
/** Statements that may change function definitions: they empty the volatility cache. */
const DDL = /^(Create|Alter|Drop|Rename|Comment|Grant|Revoke|Reassign|Define|CompositeType|AlterObject)/

type Node = Record<string, unknown>

interface Findings {
  lock: boolean
  into: boolean
  modifying: boolean
  functions: Set<string>
}

/** Walks every node of a parse tree, noting locking clauses, SELECT INTO, modifying statements and function calls. */
const walk = (node: unknown, found: Findings): void => {
  if (Array.isArray(node)) {
    for (const child of node) walk(child, found)
    return
  }
  if (node === null || typeof node !== "object") return
  for (const [key, value] of Object.entries(node as Node)) {
    if (key === "lockingClause") found.lock = true
    else if (key === "intoClause") found.into = true
    else if (MODIFYING.has(key)) found.modifying = true
    else if (key === "FuncCall") {
      const names = ((value as Node).funcname as Array<{ String?: { sval?: string } }>) ?? []
      const name = names.at(-1)?.String?.sval
      if (name !== undefined) found.functions.add(name.toLowerCase())
    }
    walk(value, found)
  }
}

const writer = (reason: string, functions: ReadonlyArray<string> = [], ddl = false): Classification => ({
  side: "writer",
  reason,
  functions,
  ddl
})

/** The one statement kind of a raw statement node (`SelectStmt`, `InsertStmt`, ...). */
const kindOf = (stmt: Node): string => Object.keys(stmt)[0] ?? "unknown"

const isAnalyze = (explain: Node) =>
  ((explain.options as Array<{ DefElem?: { defname?: string; arg?: unknown } }>) ?? []).some((o) =>
    o.DefElem?.defname === "analyze" && JSON.stringify(o.DefElem.arg ?? "true").match(/false|off|"0"/) === null
  )

/**
 * Classifies one statement node. Only what certainly only reads goes to a
 * replica; `lookup` says which functions are volatile user functions.
 */
const classifyStatement = (
  stmt: Node,
  lookup: (name: string) => FunctionInfo | undefined
): Classification => {
  const kind = kindOf(stmt)
  const body = stmt[kind] as Node
  if (kind === "VariableShowStmt") return { side: "reader", reason: "show", functions: [], ddl: false }
  if (kind === "ExplainStmt") {
    // EXPLAIN alone only plans; EXPLAIN ANALYZE runs the statement, so it goes where the statement would.
    if (!isAnalyze(body)) return { side: "reader", reason: "explain", functions: [], ddl: false }
    const inner = classifyStatement(body.query as Node, lookup)
    return inner.side === "reader"
      ? { ...inner, reason: "explain-analyze-read" }
      : { ...inner, reason: `explain-analyze:${inner.reason}` }
  }
  if (kind !== "SelectStmt") return writer(`statement:${kind}`, [], DDL.test(kind))
  const found: Findings = { lock: false, into: false, modifying: false, functions: new Set() }
  walk(body, found)
  const functions = [...found.functions]
  if (found.modifying) return writer("writing-cte", functions)
  if (found.lock) return writer("lock-clause", functions)
  if (found.into) return writer("select-into", functions)
  for (const name of functions) {
    if (isWritingBuiltin(name)) return writer(`writing-function:${name}`, functions)
    const info = lookup(name)
    if (info === undefined) return writer(`unknown-function:${name}`, functions)
    if (info.volatile && !info.builtin) return writer(`volatile-function:${name}`, functions)
  }
  return { side: "reader", reason: "parsed-read", functions, ddl: false }
}

/**
 * Function names in a parse that are neither writing built-ins nor known to `known`.
 *
 * @since 0.2.0
 * @category classification
 */
export const unknownFunctions = (parsed: unknown, known: (name: string) => boolean): ReadonlyArray<string> => {
  const found: Findings = { lock: false, into: false, modifying: false, functions: new Set() }
  walk(parsed, found)
  return [...found.functions].filter((name) => !isWritingBuiltin(name) && !known(name))
}

/**
 * Classifies a whole parse: multi-statement text reads only when every part reads.
 *
 * @since 0.2.0
 * @category classification
 */
export const classifyParse = (
  parsed: { readonly stmts?: ReadonlyArray<{ readonly stmt: Node }> },
  lookup: (name: string) => FunctionInfo | undefined
): Classification => {
  const stmts = parsed.stmts ?? []
  if (stmts.length === 0) return writer("empty")
  const parts = stmts.map((s) => classifyStatement(s.stmt, lookup))
  const functions = parts.flatMap((p) => p.functions)
  const ddl = parts.some((p) => p.ddl)
  const write = parts.find((p) => p.side === "writer")
  if (write !== undefined) return { ...write, functions, ddl }
  return parts.length === 1 ? parts[0]! : { side: "reader", reason: "parsed-read", functions, ddl }
}

/**
 * SQL the parser refused: it goes to the writer, which reports the error.
 *
 * @since 0.2.0
 * @category constants
 */
export const parseFailed: Classification = writer("parse-failed")

/**
 * Loads libpg_query's WebAssembly parser; every other function here needs it loaded.
 *
 * @since 0.2.0
 * @category constructors
 */
export const loadParser = (): Promise<void> => loadModule()

/** The parse tree, or `undefined` for SQL the parser refuses. */
const parse = (sql: string): Parsed | undefined => {
  try {
    return parseSync(sql) as Parsed
  } catch {
    return undefined
  }
}

type Parsed = Parameters<typeof classifyParse>[0]

/**
 * Classifies one SQL text with the grammar alone, treating every function
 * that is not a known writing built-in as read-only. The parser must be
 * loaded ({@link loadParser}).
 *
 * @example
 * ```ts
 * import { StatementClass } from "@pgfleet/core"
 *
 * await StatementClass.loadParser()
 * StatementClass.classifyText("SELECT nextval('ids')").reason // "writing-function:nextval"
 * ```
 *
 * @since 0.2.0
 * @category classification
 */
export const classifyText = (sql: string): Classification => {
  const parsed = parse(sql)
  return parsed === undefined ? parseFailed : classifyParse(parsed, () => ({ volatile: false, builtin: true }))
}

/**
 * Looks up the volatility of the named functions: `$1` is a `text[]` of names.
 *
 * @since 0.2.0
 * @category constants
 */
export const FUNCTIONS_SQL = `SELECT proname AS name,
  bool_or(provolatile = 'v' AND pronamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace))
    AS user_volatile
  FROM pg_proc WHERE proname = ANY($1) GROUP BY proname`

/** A bounded map that forgets the least recently used entry (a Map keeps insertion order). */
class Lru<V> {
  readonly #entries = new Map<string, V>()
  constructor(readonly capacity: number) {}
  get(key: string): V | undefined {
    const value = this.#entries.get(key)
    if (value !== undefined) {
      this.#entries.delete(key)
      this.#entries.set(key, value)
    }
    return value
  }
  set(key: string, value: V) {
    this.#entries.delete(key)
    this.#entries.set(key, value)
    if (this.#entries.size > this.capacity) this.#entries.delete(this.#entries.keys().next().value!)
  }
  deleteWhere(test: (value: V) => boolean) {
    for (const [key, value] of this.#entries) if (test(value)) this.#entries.delete(key)
  }
  get size() {
    return this.#entries.size
  }
}

/**
 * What a {@link Classifier} needs before it can decide a text: the parse,
 * and the functions whose volatility must be looked up first.
 *
 * @since 0.2.0
 * @category models
 */
export interface Pending {
  readonly sql: string
  readonly parsed: unknown
  /** Names to look up with {@link FUNCTIONS_SQL}, then give to the classifier's `learn`. */
  readonly missing: ReadonlyArray<string>
}

/**
 * Classifications per SQL text (an LRU of `capacity` entries) and function
 * volatility per name. Synchronous; whoever holds it runs the lookups.
 *
 * @since 0.2.0
 * @category models
 */
export interface Classifier {
  /** The cached classification of `sql`. Runs on every statement. */
  readonly cached: (sql: string) => Classification | undefined
  /** Parses `sql` and names the functions it calls whose volatility is not known yet. */
  readonly prepare: (sql: string) => Pending
  /** Records what {@link FUNCTIONS_SQL} answered. */
  readonly learn: (rows: ReadonlyArray<{ readonly name: string; readonly user_volatile: boolean }>) => void
  /** Decides and keeps the classification; functions still unknown send it to the writer. */
  readonly decide: (pending: Pending) => Classification
  /** Forgets every function's volatility and every classification that depended on one. */
  readonly invalidate: () => void
  /** Classifications held now, and the bound. */
  readonly size: () => { readonly entries: number; readonly capacity: number }
}

/**
 * A {@link Classifier} holding at most `capacity` classifications.
 *
 * @example
 * ```ts
 * import { StatementClass } from "@pgfleet/core"
 *
 * await StatementClass.loadParser()
 * const classifier = StatementClass.classifier(1000)
 * const pending = classifier.prepare("SELECT my_fn(1)") // pending.missing: ["my_fn"]
 * classifier.learn([{ name: "my_fn", user_volatile: true }])
 * classifier.decide(pending).side // "writer"
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const classifier = (capacity: number): Classifier => {
  const classifications = new Lru<Classification>(capacity)
  const functions = new Map<string, FunctionInfo>()
  return {
    cached: (sql) => classifications.get(sql),
    prepare: (sql) => {
      const parsed = parse(sql)
      const missing = parsed === undefined ? [] : unknownFunctions(parsed, (name) => functions.has(name))
      return { sql, parsed, missing }
    },
    learn: (rows) => {
      for (const row of rows) functions.set(row.name, { volatile: row.user_volatile, builtin: false })
    },
    decide: (pending) => {
      const classification = pending.parsed === undefined
        ? parseFailed
        : classifyParse(pending.parsed as Parsed, (name) => functions.get(name))
      classifications.set(pending.sql, classification)
      return classification
    },
    invalidate: () => {
      functions.clear()
      classifications.deleteWhere((c) => c.functions.length > 0)
    },
    size: () => ({ entries: classifications.size, capacity: classifications.capacity })
  }
}
