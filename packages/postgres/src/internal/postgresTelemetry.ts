import type { Attributes } from "@opentelemetry/api"
import type {
  CollectionResult,
  MetricCollectOptions,
  MetricData,
  MetricProducer,
  ResourceMetrics
} from "@opentelemetry/sdk-metrics"

/**
 * Effect metrics carry their unit as a `unit` (or `time_unit`) tag, which
 * `@effect/opentelemetry` reads into the instrument's unit, defaulting to `1`,
 * and also leaves on every data point as an attribute. This producer keeps the
 * unit where OpenTelemetry puts it (the descriptor) and nowhere else: the tag
 * is dropped from the points, and a metric without one has no unit (so an
 * OTLP-to-Prometheus translation adds no `_ratio`).
 */
export class UnitsProducer implements MetricProducer {
  constructor(readonly inner: MetricProducer) {}
  async collect(options?: MetricCollectOptions): Promise<CollectionResult> {
    const result = await this.inner.collect(options)
    const rm = result.resourceMetrics
    return {
      errors: result.errors,
      resourceMetrics: {
        resource: rm.resource,
        scopeMetrics: rm.scopeMetrics.map((scope) => ({ ...scope, metrics: scope.metrics.map(withUnit) }))
      }
    }
  }
}

const unitTags = ["unit", "time_unit"]

const withUnit = (metric: MetricData): MetricData => {
  const first = metric.dataPoints[0]?.attributes
  const unit = first?.unit ?? first?.time_unit
  return {
    ...metric,
    descriptor: { ...metric.descriptor, unit: typeof unit === "string" ? unit : "" },
    dataPoints: (metric.dataPoints as Array<{ attributes: Attributes }>).map((p) => ({
      ...p,
      attributes: unitTags.some((k) => k in p.attributes) ? withoutUnitTags(p.attributes) : p.attributes
    }))
  } as MetricData
}

const withoutUnitTags = (attributes: Attributes): Attributes => {
  const out: Attributes = {}
  for (const key in attributes) if (!unitTags.includes(key)) out[key] = attributes[key]
  return out
}

/** UCUM units as OpenTelemetry's Prometheus compatibility spec spells them in a metric name. */
const unitWords: Record<string, string> = {
  d: "days",
  h: "hours",
  min: "minutes",
  s: "seconds",
  ms: "milliseconds",
  us: "microseconds",
  ns: "nanoseconds",
  By: "bytes",
  KiBy: "kibibytes",
  MiBy: "mebibytes",
  GiBy: "gibibytes",
  KBy: "kilobytes",
  MBy: "megabytes",
  GBy: "gigabytes",
  "%": "percent"
}

/**
 * The name suffix a unit gives in Prometheus, as OpenTelemetry's
 * compatibility spec (and the Collector's and Prometheus's own OTLP
 * translation) makes it: annotations in braces are dropped, abbreviations
 * spelled out, `a/b` is `a_per_b`. `{connection}` gives none.
 */
export const unitSuffix = (unit: string): string => {
  const plain = unit.replace(/\{[^}]*\}/g, "").trim()
  if (plain === "" || plain === "1") return ""
  const [per, by] = plain.split("/", 2) as [string, string | undefined]
  const word = (u: string) => unitWords[u] ?? u
  return by === undefined ? word(per) : per === "" || per === "1" ? `per_${word(by)}` : `${word(per)}_per_${word(by)}`
}

/**
 * Metric names as Prometheus will know them, whichever way they travel: the
 * unit suffix is added here (OpenTelemetry's JS Prometheus serializer adds
 * `_total` but no unit), so `/metrics` and an OTLP pipeline give one dashboard
 * the same names.
 */
export const prometheusNames = (rm: ResourceMetrics): ResourceMetrics => ({
  resource: rm.resource,
  scopeMetrics: rm.scopeMetrics.map((scope) => ({
    ...scope,
    metrics: scope.metrics.map((metric) => {
      const suffix = unitSuffix(metric.descriptor.unit)
      const base = metric.descriptor.name.replace(/_total$/, "")
      const name = suffix === "" || base.endsWith(`_${suffix}`) || base.endsWith(`.${suffix}`)
        ? metric.descriptor.name
        : base.length === metric.descriptor.name.length
        ? `${base}_${suffix}`
        : `${base}_${suffix}_total`
      // The `# UNIT` line is OpenMetrics; in the 0.0.4 text format the suffix says it.
      return { ...metric, descriptor: { ...metric.descriptor, name, unit: "" } } as MetricData
    })
  }))
})
