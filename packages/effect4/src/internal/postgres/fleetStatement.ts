/**
 * A routed client's statements of plain templates (literal text and plain
 * values): one object per statement, which runs straight on the routed
 * connection when nothing could see effect/sql's own execution of it, and
 * as effect/sql's own statement otherwise.
 */
import { StatementText } from "@pgfleet/core"
import * as Effect from "effect/Effect"
import * as Effectable from "effect/Effectable"
import type * as Fiber from "effect/Fiber"
import type { Connection } from "effect/sql/SqlConnection"
import type { SqlError } from "effect/sql/SqlError"
import * as Statement from "effect/sql/Statement"
import type * as Stream from "effect/Stream"
import type { TransformRows } from "./sqlPgConnection.js"

/** How a client runs its plain statements. */
export interface Runner {
  /** The routed connection: where a statement goes outside a transaction. */
  readonly routed: Connection
  readonly transformRows: TransformRows
  /**
   * `fiber` may run a statement on `routed` itself: it is in no transaction
   * and has no statement transformer, and its tracer exports nothing, so
   * effect/sql's span of the statement would never be seen.
   */
  readonly direct: (fiber: Fiber.Fiber<unknown, unknown>) => boolean
}

interface Site extends Runner {
  /** effect/sql's own constructor: it builds the statement whenever something asks for effect/sql's. */
  readonly base: Statement.Constructor
}

interface Plain extends Statement.Statement<any> {
  readonly site: Site
  readonly strings: TemplateStringsArray
  readonly args: ReadonlyArray<unknown>
  readonly text: string
  built: Statement.Statement<any> | undefined
  /** effect/sql's statement of the same call, built when first asked for. */
  readonly inner: Statement.Statement<any>
}

/** The mark effect/sql tells its fragments by, taken from one it made. */
const { segments: _, ...fragmentMark } = Statement.fragment([])

/** An operation on `routed` when the fiber may run it directly, else effect/sql's own. */
const routedOr = <A>(
  self: Plain,
  run: (routed: Connection) => Effect.Effect<A, SqlError>,
  bySqlClient: (inner: Statement.Statement<any>) => Effect.Effect<A, SqlError>
): Effect.Effect<A, SqlError> =>
  Effect.withFiber((fiber) => self.site.direct(fiber) ? run(self.site.routed) : bySqlClient(self.inner))

const PlainProto: ThisType<Plain> = {
  ...fragmentMark,
  ...Effectable.Prototype<Plain>({
    label: "Statement",
    evaluate(fiber) {
      const site = this.site
      return site.direct(fiber) ? site.routed.execute(this.text, this.args, site.transformRows) : this.inner
    }
  }),
  get inner(): Statement.Statement<any> {
    return this.built ??= (this.site.base as any)(this.strings, ...this.args)
  },
  get segments() {
    return this.inner.segments
  },
  // A plain statement's text depends on neither its values nor the name transforms.
  compile() {
    return [this.text, this.args] as const
  },
  get raw() {
    return routedOr(this, (routed) => routed.executeRaw(this.text, this.args), (inner) => inner.raw)
  },
  get withoutTransform() {
    return routedOr(
      this,
      (routed) => routed.execute(this.text, this.args, undefined),
      (inner) => inner.withoutTransform
    )
  },
  get values() {
    return routedOr(this, (routed) => routed.executeValues(this.text, this.args), (inner) => inner.values)
  },
  get valuesUnprepared() {
    return routedOr(
      this,
      (routed) => routed.executeValuesUnprepared(this.text, this.args),
      (inner) => inner.valuesUnprepared
    )
  },
  get unprepared() {
    return routedOr(
      this,
      (routed) => routed.executeUnprepared(this.text, this.args, this.site.transformRows),
      (inner) => inner.unprepared
    )
  },
  get stream(): Stream.Stream<any, SqlError> {
    return this.inner.stream
  },
  toJSON() {
    return (this.inner as any).toJSON()
  }
}

const makePlain = (site: Site, strings: TemplateStringsArray, args: ReadonlyArray<unknown>, text: string) => {
  const self = Object.create(PlainProto)
  self.site = site
  self.strings = strings
  self.args = args
  self.text = text
  self.built = undefined
  return self as Plain
}

/**
 * `base` with every helper and property it has, whose template calls with
 * plain values, once the template's text is known, make {@link Plain}
 * statements run by `runner`. Every other call is `base`'s own.
 */
export const wrapConstructor = <C extends Statement.Constructor>(base: C, runner: Runner): C => {
  const site: Site = { ...runner, base }
  const templates = StatementText.plainTemplates(Statement.isFragment)
  const sql = function(strings: unknown, ...args: Array<unknown>) {
    const text = templates.textOf(strings, args)
    if (text !== undefined) return makePlain(site, strings as TemplateStringsArray, args, text)
    const built = (base as any)(strings, ...args)
    if (Statement.isFragment(built) && "compile" in built) templates.learn(strings, args, built as any)
    return built
  }
  return Object.assign(sql, base) as unknown as C
}
