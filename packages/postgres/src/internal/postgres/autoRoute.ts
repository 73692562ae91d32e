/**
 * `pg.auto`: routes each statement by its classification, and keeps a fiber's reads after its writes
 * (read-your-writes by WAL position).
 */
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import { parseLsn } from "../../HealthMonitor.js"
import type { PostgresSettings } from "../../PostgresConfig.js"
import type { PostgresError } from "../../PostgresError.js"
import * as ReaderRouter from "../../ReaderRouter.js"
import type * as StatementClassifier from "../../StatementClassifier.js"
import type { Target } from "./fleetClient.js"

/** Set after a write through `pg.auto`: the next read in the fiber first takes the writer's WAL position. */
const wroteSinceRead = FiberRef.unsafeMake(false)

const unclassified = "unclassified"

/**
 * The routing of `pg.auto`: each statement is classified (cached per SQL
 * text); what certainly only reads takes the reader route, the rest the
 * writer. Read-your-writes: after a write, the next read in that fiber asks
 * the writer for its WAL position once, and reads then go only to replicas
 * that have replayed it (or the writer) — one extra round trip per
 * write-then-read, none for reads that follow reads.
 */
export const make = (options: {
  readonly settings: PostgresSettings
  readonly classifier: StatementClassifier.Service
  readonly writer: (exclude: ReadonlyArray<string>) => Target | PostgresError
  readonly reader: (exclude: ReadonlyArray<string>, minimumPosition: bigint | undefined) => Target | PostgresError
  readonly writerPosition: Effect.Effect<string, SqlError>
}) => {
  const { classifier, settings } = options

  const catchUp = Effect.flatMap(options.writerPosition, (position) =>
    Effect.zipRight(
      FiberRef.set(ReaderRouter.currentMinimumPosition, parseLsn(position)),
      FiberRef.set(wroteSinceRead, false)
    ))

  return {
    prepare: (sql: string, fiber: Fiber.RuntimeFiber<unknown, unknown>): Effect.Effect<void, SqlError> | undefined => {
      const known = classifier.cached(sql)
      const mustCatchUp = settings.autoReadYourWrites && fiber.getFiberRef(wroteSinceRead)
      if (known !== undefined && !(mustCatchUp && known.side === "reader")) return undefined
      return Effect.flatMap(
        known === undefined ? classifier.classify(sql) : Effect.succeed(known),
        (c) => c.side === "reader" && mustCatchUp ? catchUp : Effect.void
      )
    },
    pick: (
      exclude: ReadonlyArray<string>,
      minimumPosition: bigint | undefined,
      sql: string | undefined
    ): Target | PostgresError => {
      const known = sql === undefined ? undefined : classifier.cached(sql)
      if (known === undefined || known.side === "writer") {
        const target = options.writer(exclude)
        return "pool" in target
          ? { ...target, read: false, reason: known?.reason ?? unclassified, ddl: known?.ddl === true }
          : target
      }
      const target = options.reader(exclude, minimumPosition)
      return "pool" in target ? { ...target, read: true, reason: known.reason } : target
    },
    succeeded: (target: Target): Effect.Effect<void> | undefined => {
      if (target.read) return undefined
      const noted = settings.autoReadYourWrites ? FiberRef.set(wroteSinceRead, true) : Effect.void
      // DDL may have created or changed a function: look volatility up again.
      return target.ddl ? Effect.zipRight(noted, classifier.invalidate) : noted
    }
  }
}
