/**
 * Statements on @effect/sql-pg 4's own connections (`DB_DRIVER=sql-pg`): one
 * statement shaped as effect/sql asks, and a held connection as effect/sql's
 * `Connection` (as sql-pg's `PgClient` makes it, whose class is internal).
 */
import type * as PgConnection from "@effect/sql-pg/PgConnection"
import * as Effect from "effect/Effect"
import type { Connection } from "effect/sql/SqlConnection"
import type { SqlError } from "effect/sql/SqlError"
import * as Stream from "effect/Stream"

/** What effect/sql asked for: the rows (through its row transform), the driver's result, or rows as arrays. */
export type Shape = "rows" | "raw" | "values"

export type TransformRows = (<A extends object>(row: ReadonlyArray<A>) => ReadonlyArray<A>) | undefined

/** One statement on `connection`, its result as `shape` asks; `prepare` false skips the prepared-statement cache. */
export const query = (
  connection: PgConnection.PgConnection,
  sql: string,
  params: ReadonlyArray<unknown>,
  shape: Shape,
  prepare: boolean
): Effect.Effect<any, SqlError> =>
  shape === "values" ? connection.queryValues(sql, params, prepare) : connection.query(sql, params, prepare)

/**
 * A result of {@link query} as effect/sql wants it back, through the row
 * transform. Called in an `Effect.map`, so the transform runs in the fiber
 * (a throw there is a defect).
 */
export const valueOf = (shape: Shape, rows: TransformRows, result: any): any =>
  shape !== "rows" ? result : rows === undefined ? result.rows : rows(result.rows)

/** A held connection's rows, streamed, through the row transform. */
export const stream = (
  connection: PgConnection.PgConnection,
  sql: string,
  params: ReadonlyArray<unknown>,
  rows: TransformRows
): Stream.Stream<any, SqlError> => {
  const out = connection.stream(sql, params)
  return rows === undefined ? out : Stream.mapArray(out, (batch) => rows(batch) as any)
}

/** A held connection as effect/sql's `Connection`; `failed` sees each failure (health, a broken connection). */
export const held = (
  connection: PgConnection.PgConnection,
  failed: (cause: SqlError) => Effect.Effect<void>
): Connection => {
  const run = (sql: string, params: ReadonlyArray<unknown>, shape: Shape, prepare: boolean, rows: TransformRows) =>
    Effect.tapError(
      Effect.map(query(connection, sql, params, shape, prepare), (result) => valueOf(shape, rows, result)),
      failed
    )
  return {
    execute: (sql, params, rows) => run(sql, params, "rows", true, rows),
    executeUnprepared: (sql, params, rows) => run(sql, params, "rows", false, rows),
    executeRaw: (sql, params) => run(sql, params, "raw", true, undefined),
    executeValues: (sql, params) => run(sql, params, "values", true, undefined),
    executeValuesUnprepared: (sql, params) => run(sql, params, "values", false, undefined),
    executeStream: (sql, params, rows) => Stream.tapError(stream(connection, sql, params, rows), failed)
  }
}
