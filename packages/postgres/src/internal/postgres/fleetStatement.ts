/**
 * Statements whose execution runs through the fleet's runner (routing, retry, span) instead of one
 * fixed connection.
 */
import type { SqlError } from "@effect/sql/SqlError"
import * as Statement from "@effect/sql/Statement"
import { StatementText } from "@pgfleet/core"
import type * as Effect from "effect/Effect"
import * as Effectable from "effect/Effectable"
import { identity } from "effect/Function"
import type * as Stream from "effect/Stream"

/** @effect/sql's row transform, when one is installed. */
export type TransformRows = (<A extends object>(row: ReadonlyArray<A>) => ReadonlyArray<A>) | undefined

/** The operations @effect/sql names in `db.operation.name`. */
export type Operation = "execute" | "executeRaw" | "executeValues" | "executeUnprepared" | "executeWithoutTransform"

/**
 * How pgfleet runs a statement: routed, traced and retried; or, inside a
 * transaction or under a statement transformer, by @effect/sql itself
 * ({@link bySqlClient}).
 */
export interface Runner {
  readonly run: <A>(
    operation: Operation,
    statement: FleetStatement<unknown>,
    withoutTransform: boolean,
    transformRows: TransformRows
  ) => Effect.Effect<A, SqlError>
  readonly stream: <A>(
    statement: FleetStatement<unknown>,
    transformRows: TransformRows,
    viaSqlClient: () => Stream.Stream<A, SqlError>
  ) => Stream.Stream<A, SqlError>
}

/**
 * A statement executed by pgfleet outside a transaction and by @effect/sql
 * inside one. Its @effect/sql statement (`inner`: segments, compiler,
 * helpers) is what a transaction runs, so every helper and fragment works as
 * in @effect/sql.
 */
export abstract class FleetStatement<A> extends Effectable.Class<ReadonlyArray<A>, SqlError>
  implements Statement.Statement<A>
{
  get [Statement.FragmentId]() {
    return identity
  }
  abstract readonly inner: Statement.Statement<A>
  abstract compile(withoutTransform?: boolean | undefined): readonly [string, ReadonlyArray<unknown>]
  constructor(
    readonly runner: Runner,
    readonly transformRows: TransformRows
  ) {
    super()
  }
  get segments() {
    return this.inner.segments
  }
  commit(): Effect.Effect<ReadonlyArray<A>, SqlError> {
    return this.runner.run("execute", this, false, this.transformRows)
  }
  get raw(): Effect.Effect<unknown, SqlError> {
    return this.runner.run("executeRaw", this, true, undefined)
  }
  get withoutTransform(): Effect.Effect<ReadonlyArray<A>, SqlError> {
    return this.runner.run("executeWithoutTransform", this, true, undefined)
  }
  get values(): Effect.Effect<ReadonlyArray<ReadonlyArray<unknown>>, SqlError> {
    return this.runner.run("executeValues", this, false, undefined)
  }
  get unprepared(): Effect.Effect<ReadonlyArray<A>, SqlError> {
    return this.runner.run("executeUnprepared", this, false, this.transformRows)
  }
  get stream(): Stream.Stream<A, SqlError> {
    return this.runner.stream(this, this.transformRows, () => this.inner.stream)
  }
  toJSON() {
    return this.inner
  }
}

/** `operation` run by @effect/sql's own execution of `statement`, on a transaction's connection. */
export const bySqlClient = (operation: Operation, statement: FleetStatement<unknown>): Effect.Effect<any, SqlError> => {
  const inner = statement.inner
  switch (operation) {
    case "execute":
      return inner
    case "executeRaw":
      return inner.raw
    case "executeWithoutTransform":
      return inner.withoutTransform
    case "executeValues":
      return inner.values
    case "executeUnprepared":
      return inner.unprepared
  }
}

/** Any statement @effect/sql built: helpers, identifiers, fragments, `unsafe`. */
class Built<A> extends FleetStatement<A> {
  constructor(readonly inner: Statement.Statement<A>, runner: Runner, transformRows: TransformRows) {
    super(runner, transformRows)
  }
  compile(withoutTransform?: boolean | undefined) {
    return this.inner.compile(withoutTransform)
  }
}

/** What the plain statements of one constructor share. */
interface Site {
  readonly base: Statement.Constructor
  readonly runner: Runner
  readonly transformRows: TransformRows
}

/**
 * A template of literal text and plain values, whose text is known: one
 * object per statement, its values its parameters. @effect/sql's statement
 * (segments and all) is built only if something asks for it.
 */
class Plain<A> extends FleetStatement<A> {
  private built: Statement.Statement<A> | undefined = undefined
  constructor(
    readonly site: Site,
    readonly strings: TemplateStringsArray,
    readonly args: ReadonlyArray<unknown>,
    readonly text: string
  ) {
    super(site.runner, site.transformRows)
  }
  get inner(): Statement.Statement<A> {
    return this.built ??= (this.site.base as any)(this.strings, ...this.args)
  }
  // A plain statement's text depends on neither the values nor the name transforms.
  compile() {
    return [this.text, this.args] as const
  }
}

const isStatement = (u: unknown): u is Statement.Statement<any> =>
  typeof u === "object" && u !== null && "compile" in u && Statement.FragmentId in u

/**
 * A statement constructor with every helper of `base`, whose statements run
 * through `runner`. Identifiers and fragments pass through unchanged. A
 * template of plain values, once its text is known, is one object per
 * statement ({@link Plain}).
 */
export const wrapConstructor = <C extends Statement.Constructor>(
  base: C,
  runner: Runner,
  transformRows: TransformRows
): C => {
  const site: Site = { base, runner, transformRows }
  const templates = StatementText.plainTemplates((u) => Statement.FragmentId in u)
  const wrap = (result: unknown) => isStatement(result) ? new Built(result, runner, transformRows) : result
  const sql = function(strings: unknown, ...args: Array<any>) {
    const text = templates.textOf(strings, args)
    if (text !== undefined) return new Plain(site, strings as TemplateStringsArray, args, text)
    const built = (base as any)(strings, ...args)
    if (!isStatement(built)) return built
    templates.learn(strings, args, built)
    return new Built(built, runner, transformRows)
  }
  return Object.assign(sql, base, {
    unsafe: (text: string, params?: ReadonlyArray<any>) => wrap(base.unsafe(text, params))
  }) as unknown as C
}
