/**
 * Metric series whose state pgfleet keeps in plain fields, for the
 * statement path. effect 4's `updateUnsafe` finds a series in the registry
 * on every update (the context's attributes, the registry, the series key);
 * a kept series is registered once with `Metric.registerUnsafe`, which reads
 * its state only when metrics are snapshotted or exported, so an update is a
 * few field writes. Each series is kept once per registry, shared by every
 * client of every fleet that records into it.
 */
import * as Context from "effect/Context"
import * as Metric from "effect/Metric"

/** A counter series: `add` counts. */
export interface KeptCounter {
  readonly add: (n: number) => void
}

/** A histogram series: `record` places one value. */
export interface KeptHistogram {
  readonly record: (value: number) => void
}

const kept = new WeakMap<object, Map<string, KeptCounter | KeptHistogram>>()

/** The series of `metric` in `context`'s registry, made by `make` and registered the first time it is asked for. */
const keep = <S extends KeptCounter | KeptHistogram>(
  metric: Metric.Metric<number, any>,
  context: Context.Context<never>,
  make: () => { readonly series: S; readonly state: () => any }
): S => {
  const registry = Context.get(context, Metric.MetricRegistry)
  let series = kept.get(registry)
  if (series === undefined) kept.set(registry, series = new Map())
  const identity = JSON.stringify([
    metric.id,
    metric.attributes,
    Context.get(context, Metric.CurrentMetricAttributes)
  ])
  let found = series.get(identity) as S | undefined
  if (found === undefined) {
    const made = make()
    Metric.registerUnsafe(metric, context, { get: made.state, update: () => {}, modify: () => {} })
    series.set(identity, found = made.series)
  }
  return found
}

/** A counter of `metric` (an incremental counter), kept for `context`'s registry. */
export const counter = (metric: Metric.Counter<number>, context: Context.Context<never>): KeptCounter =>
  keep(metric, context, () => {
    let count = 0
    return { series: { add: (n) => void (count += n) }, state: () => ({ count, incremental: true }) }
  })

/**
 * A histogram of `metric`, whose buckets are `boundaries` (as the metric was
 * made with), kept for `context`'s registry; its state is cumulative, as
 * effect's own histograms give it.
 */
export const histogram = (
  metric: Metric.Histogram<number>,
  boundaries: ReadonlyArray<number>,
  context: Context.Context<never>
): KeptHistogram =>
  keep(metric, context, () => {
    const bounds = Float64Array.from([...boundaries].sort((a, b) => a - b))
    const counts = new Uint32Array(bounds.length + 1)
    let count = 0
    let sum = 0
    let min = Number.MAX_VALUE
    let max = -Number.MAX_VALUE
    const record = (value: number) => {
      let i = 0
      while (i < bounds.length && value > bounds[i]!) i++
      counts[i]!++
      count++
      sum += value
      if (value < min) min = value
      if (value > max) max = value
    }
    const state = () => {
      let cumulated = 0
      const buckets = Array.from(bounds, (boundary, i): [number, number] => [boundary, cumulated += counts[i]!])
      return { buckets, count, min, max, sum }
    }
    return { series: { record }, state }
  })
