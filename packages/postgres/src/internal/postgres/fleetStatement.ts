/**
 * Statements whose execution runs through the fleet's runner (routing, retry, span) instead of one
 * fixed connection.
 */
import type { SqlError } from "@effect/sql/SqlError"
import * as Statement from "@effect/sql/Statement"
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
 * transaction or under a statement transformer, by @effect/sql itself.
 */
export interface Runner {
  readonly run: <A>(
    operation: Operation,
    statement: Statement.Statement<unknown>,
    withoutTransform: boolean,
    transformRows: TransformRows,
    viaSqlClient: () => Effect.Effect<A, SqlError>
  ) => Effect.Effect<A, SqlError>
  readonly stream: <A>(
    statement: Statement.Statement<unknown>,
    transformRows: TransformRows,
    viaSqlClient: () => Stream.Stream<A, SqlError>
  ) => Stream.Stream<A, SqlError>
}

/**
 * A statement built by @effect/sql (segments, compiler, helpers), executed
 * by pgfleet outside a transaction and by @effect/sql inside one. Only the
 * execution differs, so every helper and fragment works as in @effect/sql.
 */
class FleetStatement<A> extends Effectable.Class<ReadonlyArray<A>, SqlError> implements Statement.Statement<A> {
  get [Statement.FragmentId]() {
    return identity
  }
  constructor(
    readonly inner: Statement.Statement<A>,
    readonly runner: Runner,
    readonly transformRows: TransformRows
  ) {
    super()
  }
  get segments() {
    return this.inner.segments
  }
  compile(withoutTransform?: boolean | undefined) {
    return this.inner.compile(withoutTransform)
  }
  commit(): Effect.Effect<ReadonlyArray<A>, SqlError> {
    return this.runner.run("execute", this.inner, false, this.transformRows, () => this.inner)
  }
  get raw(): Effect.Effect<unknown, SqlError> {
    return this.runner.run("executeRaw", this.inner, true, undefined, () => this.inner.raw)
  }
  get withoutTransform(): Effect.Effect<ReadonlyArray<A>, SqlError> {
    return this.runner.run("executeWithoutTransform", this.inner, true, undefined, () => this.inner.withoutTransform)
  }
  get values(): Effect.Effect<ReadonlyArray<ReadonlyArray<unknown>>, SqlError> {
    return this.runner.run("executeValues", this.inner, false, undefined, () => this.inner.values)
  }
  get unprepared(): Effect.Effect<ReadonlyArray<A>, SqlError> {
    return this.runner.run("executeUnprepared", this.inner, false, this.transformRows, () => this.inner.unprepared)
  }
  get stream(): Stream.Stream<A, SqlError> {
    return this.runner.stream(this.inner, this.transformRows, () => this.inner.stream)
  }
  toJSON() {
    return this.inner
  }
}

const isStatement = (u: unknown): u is Statement.Statement<any> =>
  typeof u === "object" && u !== null && "compile" in u && Statement.FragmentId in u

/**
 * A statement constructor with every helper of `base`, whose statements run
 * through `runner`. Identifiers and fragments pass through unchanged.
 */
export const wrapConstructor = <C extends Statement.Constructor>(
  base: C,
  runner: Runner,
  transformRows: TransformRows
): C => {
  const wrap = (result: unknown) => isStatement(result) ? new FleetStatement(result, runner, transformRows) : result
  const sql = function(this: unknown, ...args: Array<any>) {
    return wrap((base as any)(...args))
  }
  return Object.assign(sql, base, {
    unsafe: (text: string, params?: ReadonlyArray<any>) => wrap(base.unsafe(text, params))
  }) as unknown as C
}
