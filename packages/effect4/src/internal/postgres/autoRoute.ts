/**
 * `pg.auto`: routes each statement by its classification, and keeps a
 * fiber's reads after its writes (read-your-writes by WAL position).
 *
 * The Effect 3 line keeps "wrote since the last read" in a `FiberRef` it
 * sets for the rest of the fiber. Effect 4 has no `FiberRef`; a
 * `Context.Reference` is set only around an effect, and a statement runs
 * inside @effect/sql's own scoped context (its span), whose end would undo a
 * value set there. So the state is kept per fiber in a `WeakMap`: the fiber
 * that wrote is the fiber whose later reads catch up. A fiber forked after
 * the write starts without it; use `withReadYourWrites` there.
 */
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import type { SqlError } from "effect/sql/SqlError"
import { parseLsn } from "../../HealthMonitor.js"
import type { PostgresSettings } from "../../PostgresConfig.js"
import type { PostgresError } from "../../PostgresError.js"
import type * as StatementClassifier from "../../StatementClassifier.js"
import type { Target } from "./fleetClient.js"

/** One fiber's read-your-writes state. */
interface Wrote {
  /** A write went through `pg.auto` since this fiber's last read. */
  pending: boolean
  /** The writer's position the fiber's reads must see since its last catch-up. */
  position: bigint | undefined
}

const unclassified = "unclassified"

/**
 * The routing of `pg.auto`: each statement is classified (cached per SQL
 * text); what certainly only reads takes the reader route, the rest the
 * writer. Read-your-writes: after a write, the next read in that fiber asks
 * the writer for its WAL position once, and its reads then go only to
 * replicas that have replayed it (or the writer) — one extra round trip per
 * write-then-read, none for reads that follow reads.
 */
export const make = (options: {
  readonly settings: PostgresSettings
  readonly classifier: StatementClassifier.Service
  readonly writer: () => Target | PostgresError
  readonly reader: (exclude: ReadonlyArray<string>, minimumPosition: bigint | undefined) => Target | PostgresError
  readonly writerPosition: Effect.Effect<string, SqlError>
}) => {
  const { classifier, settings } = options
  const fibers = new WeakMap<Fiber.Fiber<unknown, unknown>, Wrote>()

  const catchUp = (state: Wrote) =>
    Effect.map(options.writerPosition, (position) => {
      state.position = parseLsn(position)
      state.pending = false
    })

  return {
    prepare: (sql: string, fiber: Fiber.Fiber<unknown, unknown>): Effect.Effect<void, SqlError> | undefined => {
      const known = classifier.cached(sql)
      const state = settings.autoReadYourWrites ? fibers.get(fiber) : undefined
      const mustCatchUp = state !== undefined && state.pending
      if (known !== undefined && !(mustCatchUp && known.side === "reader")) return undefined
      return Effect.flatMap(
        known === undefined ? classifier.classify(sql) : Effect.succeed(known),
        (c) => c.side === "reader" && mustCatchUp ? catchUp(state) : Effect.void
      )
    },
    /** The position this fiber's reads must see: its own catch-up's, or the one the caller asked for. */
    minimumPosition: (fiber: Fiber.Fiber<unknown, unknown>, asked: bigint | undefined): bigint | undefined => {
      const own = fibers.get(fiber)?.position
      return own === undefined ? asked : asked === undefined || own > asked ? own : asked
    },
    pick: (
      exclude: ReadonlyArray<string>,
      minimumPosition: bigint | undefined,
      sql: string | undefined
    ): Target | PostgresError => {
      const known = sql === undefined ? undefined : classifier.cached(sql)
      if (known === undefined || known.side === "writer") {
        const target = options.writer()
        return "pool" in target
          ? { ...target, read: false, reason: known?.reason ?? unclassified, ddl: known?.ddl === true }
          : target
      }
      const target = options.reader(exclude, minimumPosition)
      return "pool" in target ? { ...target, read: true, reason: known.reason } : target
    },
    /** After a write succeeded: the fiber's next read catches up; DDL may have changed a function's volatility. */
    succeeded: (target: Target, fiber: Fiber.Fiber<unknown, unknown>): Effect.Effect<void> | undefined => {
      if (target.read) return undefined
      if (settings.autoReadYourWrites) {
        const state = fibers.get(fiber)
        if (state === undefined) fibers.set(fiber, { pending: true, position: undefined })
        else state.pending = true
      }
      return target.ddl ? classifier.invalidate : undefined
    }
  }
}
