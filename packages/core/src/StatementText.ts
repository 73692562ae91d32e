/**
 * The SQL text of plain statements, kept for effect/sql (effect 3's
 * `@effect/sql` or effect 4's `effect/sql`): by a compiler, and by template
 * for a client that runs such statements itself. effect/sql
 * compiles each statement object once, but a template makes a new object on
 * every call, so a statement run in a loop is compiled on every run. A
 * statement of literal text and parameters only (no identifiers, helpers or
 * custom segments) compiles to the same text whatever its values, where a
 * placeholder depends on its position alone (PostgreSQL's `$1`): that text
 * is kept, found by the statement's first literal, and only the parameters
 * are read off the segments ({@link keeping}), or a template's call is not
 * built into segments at all ({@link plainTemplates}).
 *
 * @since 0.2.0
 */

/**
 * What this reads of a statement's segment: effect/sql's `Literal` and
 * `Parameter` by their tag; any other kind is compiled as usual.
 *
 * @since 0.2.0
 * @category models
 */
export interface Segment {
  readonly _tag: string
  readonly value?: unknown
  readonly params?: ReadonlyArray<unknown> | undefined
}

/**
 * What this reads of a statement: its segments.
 *
 * @since 0.2.0
 * @category models
 */
export interface Fragment {
  readonly segments: ReadonlyArray<Segment>
}

/**
 * An effect/sql `Statement.Compiler`, as both lines declare it.
 *
 * @since 0.2.0
 * @category models
 */
export interface Compiler {
  readonly dialect: string
  // A method, so that each line's compiler, whose statements are its own `Fragment`, is one.
  compile(statement: Fragment, withoutTransform: boolean): readonly [string, ReadonlyArray<unknown>]
  readonly withoutTransform: Compiler
}

interface Kept {
  /** Each segment: a literal's text, or `undefined` for a parameter. */
  readonly shape: ReadonlyArray<string | undefined>
  readonly sql: string
}

/** Texts kept at most: `sql.unsafe` makes literals of any text, so the statements are not all the code's own. */
const MAX_KEPT = 512

/** The shape of a plain statement's segments, or `undefined` when it has any other kind. */
const shapeOf = (segments: ReadonlyArray<Segment>): Array<string | undefined> | undefined => {
  const shape: Array<string | undefined> = []
  for (const segment of segments) {
    if (segment._tag === "Parameter") shape.push(undefined)
    else if (segment._tag === "Literal" && segment.params === undefined) shape.push(segment.value as string)
    else return undefined
  }
  return shape
}

/**
 * The parameters of a statement without any: one frozen array for all, not
 * one per statement. A statement with some gets an array made from its first
 * (an empty array grown by `push` reserves 17 slots).
 */
const noParams: ReadonlyArray<unknown> = Object.freeze([])

/** The parameters of `segments` if they have `kept`'s shape, else `undefined`. */
const paramsIfShaped = (kept: Kept, segments: ReadonlyArray<Segment>): ReadonlyArray<unknown> | undefined => {
  const shape = kept.shape
  if (segments.length !== shape.length) return undefined
  let params: Array<unknown> | undefined
  for (let i = 0; i < shape.length; i++) {
    const segment = segments[i]!
    const text = shape[i]
    if (text === undefined) {
      if (segment._tag !== "Parameter") return undefined
      if (params === undefined) params = [segment.value]
      else params.push(segment.value)
    } else if (segment._tag !== "Literal" || segment.value !== text || segment.params !== undefined) {
      return undefined
    }
  }
  return params ?? noParams
}

/**
 * `compiler`, keeping the text of plain statements: it gives the same text
 * and parameters as `compiler` would, without compiling a statement whose
 * shape it has seen. At most 512 texts are kept. Only the `pg` dialect's
 * compilers are wrapped; any other is returned as it is, since a dialect's
 * placeholder may depend on the value (ClickHouse's `{p1:Int32}`).
 *
 * @example
 * ```ts
 * import { StatementText } from "@pgfleet/core"
 *
 * // A stand-in for an effect/sql compiler (e.g. `PgClient.makeCompiler()` of @effect/sql-pg), counting its work.
 * let compiled = 0
 * const compiler: StatementText.Compiler = {
 *   dialect: "pg",
 *   compile: (statement) => {
 *     compiled++
 *     const params = statement.segments.filter((s) => s._tag === "Parameter").map((s) => s.value)
 *     let n = 0
 *     return [statement.segments.map((s) => s._tag === "Parameter" ? `$${++n}` : String(s.value)).join(""), params]
 *   },
 *   get withoutTransform() {
 *     return compiler
 *   }
 * }
 *
 * const kept = StatementText.keeping(compiler)
 * const lookup = (id: number) => ({
 *   segments: [{ _tag: "Literal", value: "SELECT v FROM kv WHERE id = " }, { _tag: "Parameter", value: id }]
 * })
 * kept.compile(lookup(1), false) // ["SELECT v FROM kv WHERE id = $1", [1]]
 * kept.compile(lookup(2), false) // ["SELECT v FROM kv WHERE id = $1", [2]], kept
 * console.log(compiled) // 1
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const keeping = <C extends Compiler>(compiler: C): C => {
  if (compiler.dialect !== "pg") return compiler
  const kept = new Map<string, Kept>()
  const compile = (statement: Fragment, withoutTransform: boolean): readonly [string, ReadonlyArray<unknown>] => {
    const segments = statement.segments
    const first = segments[0]
    if (first === undefined || first._tag !== "Literal") return compiler.compile(statement, withoutTransform)
    const known = kept.get(first.value as string)
    if (known !== undefined) {
      const params = paramsIfShaped(known, segments)
      if (params !== undefined) return [known.sql, params]
    }
    const compiled = compiler.compile(statement, withoutTransform)
    const shape = shapeOf(segments)
    if (shape !== undefined) {
      if (kept.size >= MAX_KEPT) kept.clear()
      kept.set(first.value as string, { shape, sql: compiled[0] })
    }
    return compiled
  }
  let withoutTransform: Compiler | undefined
  return {
    dialect: compiler.dialect,
    compile,
    // Plain statements' text does not depend on transforms; the rest goes to the compiler's own variant.
    get withoutTransform() {
      return withoutTransform ??= keeping(compiler.withoutTransform)
    }
  } as unknown as C
}

/**
 * What {@link plainTemplates} reads of a statement an effect/sql constructor
 * built: its segments, and its text.
 *
 * @since 0.2.0
 * @category models
 */
export interface Compiled extends Fragment {
  compile(): readonly [string, ReadonlyArray<unknown>]
}

/**
 * The texts of templates called with plain values: see {@link plainTemplates}.
 *
 * @since 0.2.0
 * @category models
 */
export interface PlainTemplates {
  /** The text of `strings` called with `args`, when it is known and every value is a plain parameter. */
  readonly textOf: (strings: unknown, args: ReadonlyArray<unknown>) => string | undefined
  /** Keeps the text of `statement`, which `strings` and `args` built, if they are a template of plain values. */
  readonly learn: (strings: unknown, args: ReadonlyArray<unknown>, statement: Compiled) => void
}

const isTemplate = (u: unknown): u is TemplateStringsArray => Array.isArray(u) && "raw" in u

/** The text of a statement of literal text and parameters only, else `null`. */
const plainText = (statement: Compiled): string | null =>
  shapeOf(statement.segments) === undefined ? null : statement.compile()[0]

/**
 * The SQL text of each template called with plain values, kept by the
 * identity of its strings (a template literal's strings object is the same
 * on every call). A statement of such a call compiles to that text whatever
 * its values, which are its parameters in order, so a client can run it
 * without building effect/sql's segments. A value is plain unless it is an
 * object `isFragment` tells is a fragment or statement of that effect/sql
 * line, or one with a `_tag` (a helper, identifier or segment, left to effect/sql to tell).
 *
 * @example
 * ```ts
 * import { StatementText } from "@pgfleet/core"
 *
 * const templates = StatementText.plainTemplates((u) => "segments" in u)
 * const lookup = (strings: TemplateStringsArray, ...args: Array<unknown>) => ({ strings, args })
 * const call = (id: unknown) => lookup`SELECT v FROM kv WHERE id = ${id}`
 *
 * const first = call(1)
 * templates.textOf(first.strings, first.args) // undefined: not learnt yet
 * templates.learn(first.strings, first.args, {
 *   segments: [{ _tag: "Literal", value: "SELECT v FROM kv WHERE id = " }, { _tag: "Parameter", value: 1 }],
 *   compile: () => ["SELECT v FROM kv WHERE id = $1", [1]]
 * })
 * const second = call(2)
 * console.log(templates.textOf(second.strings, second.args)) // "SELECT v FROM kv WHERE id = $1"
 * const helper = call({ _tag: "Identifier", value: "kv" })
 * console.log(templates.textOf(helper.strings, helper.args)) // undefined: not a plain value
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const plainTemplates = (isFragment: (u: object) => boolean): PlainTemplates => {
  const texts = new WeakMap<TemplateStringsArray, string | null>()
  const isPlainValue = (u: unknown): boolean => typeof u !== "object" || u === null || !(isFragment(u) || "_tag" in u)
  const isPlainCall = (strings: unknown, args: ReadonlyArray<unknown>): strings is TemplateStringsArray => {
    if (!isTemplate(strings)) return false
    for (let i = 0; i < args.length; i++) if (!isPlainValue(args[i])) return false
    return true
  }
  return {
    textOf: (strings, args) => {
      if (!isPlainCall(strings, args)) return undefined
      return texts.get(strings) ?? undefined
    },
    learn: (strings, args, statement) => {
      if (isPlainCall(strings, args) && !texts.has(strings)) texts.set(strings, plainText(statement))
    }
  }
}
