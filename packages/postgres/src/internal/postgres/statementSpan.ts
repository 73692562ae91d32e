/**
 * A statement's `sql.execute` span, made and ended in plain code: the span
 * Effect's `makeSpan` would make (tracer, parent, annotations, links, clock),
 * without the fiber work of an effect per statement.
 */
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as DefaultServices from "effect/DefaultServices"
import type * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import * as HashMap from "effect/HashMap"
import * as Option from "effect/Option"
import * as Tracer from "effect/Tracer"

/** Where a statement's spans go: the fiber's tracer and clock, read once per statement. */
export interface Trace {
  readonly tracer: Tracer.Tracer
  readonly clock: Clock.Clock
  readonly timing: boolean
  readonly links: ReadonlyArray<Tracer.SpanLink>
}

const noLinks: ReadonlyArray<Tracer.SpanLink> = []

/** Effect's built-in tracer: it exports nothing, so a span made for it alone is never seen. */
const nativeTracer = Context.get(DefaultServices.liveServices, Tracer.Tracer)

/**
 * The fiber's tracing, or `undefined` when no span of a statement could be
 * seen: tracing is off for the fiber, or its tracer is Effect's built-in one,
 * which records nothing (nothing runs inside a statement's span that could
 * read it), so its spans would cost a statement about as much as pg's own
 * work and be thrown away. Any other tracer (OpenTelemetry's, a test's) gets
 * every span.
 */
export const traceOf = (fiber: Fiber.RuntimeFiber<unknown, unknown>): Trace | undefined => {
  // The fiber keeps its tracer in a field: checked first, it spares an untraced statement the fiber-ref reads.
  const tracer = fiber.currentTracer
  if (tracer === nativeTracer || !fiber.getFiberRef(FiberRef.currentTracerEnabled)) return undefined
  const links = fiber.getFiberRef(FiberRef.currentTracerSpanLinks)
  return {
    tracer,
    clock: Context.get(fiber.currentDefaultServices, Clock.Clock),
    timing: fiber.getFiberRef(FiberRef.currentTracerTimingEnabled),
    links: Chunk.isEmpty(links) ? noLinks : Chunk.toReadonlyArray(links)
  }
}

const noParent: Option.Option<Tracer.AnySpan> = Option.none()

/** The fiber's current span, unless it disabled propagation. */
export const parentOf = (fiber: Fiber.RuntimeFiber<unknown, unknown>): Option.Option<Tracer.AnySpan> => {
  const parent = Context.getOption(fiber.currentContext, Tracer.ParentSpan)
  return parent._tag === "Some" && parent.value._tag === "Span" &&
      Context.get(parent.value.context, Tracer.DisablePropagation)
    ? noParent
    : parent
}

/** Starts a client span under `parent`, with the fiber's span annotations. */
export const start = (
  fiber: Fiber.RuntimeFiber<unknown, unknown>,
  trace: Trace,
  name: string,
  parent: Option.Option<Tracer.AnySpan>
): Tracer.Span => {
  const span = trace.tracer.span(
    name,
    parent,
    Context.empty(),
    trace.links,
    trace.timing ? trace.clock.unsafeCurrentTimeNanos() : 0n,
    "client"
  )
  const annotations = fiber.getFiberRef(FiberRef.currentTracerSpanAnnotations)
  if (HashMap.size(annotations) > 0) HashMap.forEach(annotations, (value, key) => span.attribute(key, value))
  return span
}

/** Ends a span with the statement's exit. */
export const end = (trace: Trace, span: Tracer.Span, exit: Exit.Exit<unknown, unknown>): void =>
  span.end(trace.timing ? trace.clock.unsafeCurrentTimeNanos() : 0n, exit)
