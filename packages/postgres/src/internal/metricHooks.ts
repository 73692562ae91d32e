/**
 * The registry hooks behind pgfleet's tagged metrics. The statement path
 * updates a hook directly: a `Metric`'s `unsafeUpdate` goes through two
 * closures and a tag check first, and on a loaded machine every extra step
 * of the path is a cache miss (`scripts/statement-path-ab.mjs --bisect`).
 */
import * as Metric from "effect/Metric"
import type * as MetricHook from "effect/MetricHook"
import type * as MetricKey from "effect/MetricKey"
import type * as MetricKeyType from "effect/MetricKeyType"

const keys = new WeakMap<object, MetricKey.MetricKey.Untyped>()

/** `metric`, made by `Metric.fromMetricKey(key)`, with its key kept for {@link hookOf}. */
export const keep = <Type extends MetricKeyType.MetricKeyType<any, any>, In, Out>(
  key: MetricKey.MetricKey<Type>,
  metric: Metric.Metric<Type, In, Out>
): Metric.Metric<Type, In, Out> => {
  keys.set(metric, key as MetricKey.MetricKey.Untyped)
  return metric
}

/** The global registry's hook of a metric made by {@link keep}: the one its `unsafeUpdate` updates. */
export const hookOf = <In>(metric: Metric.Metric<any, In, any>): MetricHook.MetricHook<In, unknown> => {
  const key = keys.get(metric)
  if (key === undefined) throw new Error("pgfleet: metricHooks.hookOf: a metric not made by metricHooks.keep")
  return Metric.globalMetricRegistry.get(key)
}
