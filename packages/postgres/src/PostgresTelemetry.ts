/**
 * Getting pgfleet's metrics and spans out of the process, through
 * `@effect/opentelemetry`: every Effect `Metric` (pgfleet's and your own) on a
 * Prometheus endpoint, and, when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, spans
 * and metrics pushed over OTLP/HTTP.
 *
 * Imported from `@pgfleet/postgres/telemetry`, so a program that does not
 * import it needs none of the OpenTelemetry packages (they are optional peer
 * dependencies): `@effect/opentelemetry`, `@opentelemetry/api`,
 * `@opentelemetry/resources`, `@opentelemetry/sdk-metrics`,
 * `@opentelemetry/sdk-trace-base`, `@opentelemetry/sdk-trace-node`,
 * `@opentelemetry/exporter-prometheus`, `@opentelemetry/exporter-trace-otlp-http`
 * and `@opentelemetry/exporter-metrics-otlp-http`.
 *
 * @since 0.1.0
 */
import * as OtelMetrics from "@effect/opentelemetry/Metrics"
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import * as Resource from "@effect/opentelemetry/Resource"
import * as Tracer from "@effect/opentelemetry/Tracer"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { OTLPMetricExporter } from "@opentelemetry/exporter-metrics-otlp-http"
import { PrometheusSerializer } from "@opentelemetry/exporter-prometheus"
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http"
import { PeriodicExportingMetricReader } from "@opentelemetry/sdk-metrics"
import { BatchSpanProcessor } from "@opentelemetry/sdk-trace-base"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { prometheusNames, UnitsProducer } from "./internal/postgresTelemetry.js"

/**
 * Where OTLP goes: `endpoint` is the collector's base URL (`/v1/traces` and
 * `/v1/metrics` are appended, as `OTEL_EXPORTER_OTLP_ENDPOINT` is read);
 * `tracesUrl` and `metricsUrl` are full URLs that override it per signal.
 * Headers (`OTEL_EXPORTER_OTLP_HEADERS`) are read by the exporters themselves.
 *
 * @since 0.1.0
 * @category models
 */
export interface OtlpOptions {
  readonly endpoint?: string | undefined
  readonly tracesUrl?: string | undefined
  readonly metricsUrl?: string | undefined
  /** How often metrics are pushed; 60 s, as `OTEL_METRIC_EXPORT_INTERVAL`'s default. */
  readonly exportInterval?: Duration.DurationInput | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface TelemetryOptions {
  /** `service.name` of the resource; `OTEL_SERVICE_NAME` wins when set. */
  readonly serviceName?: string | undefined
  readonly serviceVersion?: string | undefined
  /** Push spans and metrics over OTLP/HTTP; without it, only the Prometheus endpoint. */
  readonly otlp?: OtlpOptions | undefined
}

/**
 * The Prometheus endpoint: `scrape` renders every Effect metric in the
 * Prometheus text format (0.0.4) at the moment it runs.
 *
 * @since 0.1.0
 * @category tags
 */
export class Prometheus extends Context.Tag("@pgfleet/postgres/PostgresTelemetry/Prometheus")<
  Prometheus,
  { readonly scrape: Effect.Effect<string> }
>() {}

/**
 * The `Content-Type` of a scrape.
 *
 * @since 0.1.0
 * @category constants
 */
export const contentType = "text/plain; version=0.0.4; charset=utf-8"

const signalUrl = (otlp: OtlpOptions, signal: "traces" | "metrics"): string | undefined => {
  const own = signal === "traces" ? otlp.tracesUrl : otlp.metricsUrl
  if (own !== undefined) return own
  if (otlp.endpoint === undefined) return undefined
  return `${otlp.endpoint.replace(/\/+$/, "")}/v1/${signal}`
}

const resourceLayer = (options: TelemetryOptions) =>
  Layer.unwrapEffect(Effect.gen(function*() {
    const fromEnv = yield* Effect.orDie(Config.option(Config.nonEmptyString("OTEL_SERVICE_NAME")))
    const attributes: Record<string, string> = {}
    if (Option.isNone(fromEnv) && options.serviceName !== undefined) attributes["service.name"] = options.serviceName
    if (options.serviceVersion !== undefined) attributes["service.version"] = options.serviceVersion
    return Resource.layerFromEnv(attributes)
  }))

const metricsLayer = (otlp: OtlpOptions | undefined) =>
  Layer.scoped(
    Prometheus,
    Effect.gen(function*() {
      const producer = new UnitsProducer(yield* OtelMetrics.makeProducer)
      const url = otlp && signalUrl(otlp, "metrics")
      if (url !== undefined) {
        yield* OtelMetrics.registerProducer(producer, () =>
          new PeriodicExportingMetricReader({
            exporter: new OTLPMetricExporter({ url }),
            exportIntervalMillis: Duration.toMillis(otlp?.exportInterval ?? "60 seconds")
          }))
      }
      // OpenTelemetry's own Prometheus text writer (escaping, `_total`, cumulative
      // buckets, `+Inf`, `target_info`); scope labels left out as noise.
      const serializer = new PrometheusSerializer(undefined, false, undefined, false, true)
      return {
        scrape: Effect.map(
          Effect.promise(() => producer.collect()),
          (result) => serializer.serialize(prometheusNames(result.resourceMetrics))
        )
      }
    })
  )

const tracingLayer = (otlp: OtlpOptions | undefined) => {
  const url = otlp && signalUrl(otlp, "traces")
  if (url === undefined) return Layer.empty
  return Tracer.layer.pipe(
    Layer.provide(
      Layer.suspend(() => NodeSdk.layerTracerProvider(new BatchSpanProcessor(new OTLPTraceExporter({ url }))))
    )
  )
}

/**
 * Effect's metrics on a Prometheus endpoint ({@link Prometheus}), and with
 * `otlp`, Effect's spans (pgfleet's `sql.execute`, ...) and metrics pushed to
 * an OpenTelemetry collector. Closing the layer flushes what is pending.
 *
 * Names reach Prometheus as OpenTelemetry's compatibility rules make them,
 * the same through `/metrics` as through a collector: dots become
 * underscores, the unit is a suffix and counters end in `_total`
 * (`db.client.operation.duration` in seconds is
 * `db_client_operation_duration_seconds_bucket`, `_sum` and `_count`).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { PostgresTelemetry } from "@pgfleet/postgres/telemetry"
 *
 * const TelemetryLive = PostgresTelemetry.layer({
 *   serviceName: "notes",
 *   otlp: { endpoint: "http://localhost:4318" }
 * })
 * const scrape = Effect.flatMap(PostgresTelemetry.Prometheus, (p) => p.scrape)
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: TelemetryOptions = {}): Layer.Layer<Prometheus> =>
  Layer.merge(metricsLayer(options.otlp), tracingLayer(options.otlp)).pipe(Layer.provide(resourceLayer(options)))

const optionalUrl = (name: string) =>
  Config.option(Config.url(name).pipe(Config.withDescription(`${name}: an http(s) URL`)))

/**
 * {@link layer} configured as OpenTelemetry SDKs are: OTLP is on when
 * `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` /
 * `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`) is set, pushing every
 * `OTEL_METRIC_EXPORT_INTERVAL` milliseconds (default 60000);
 * `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES` describe the resource. A
 * malformed value fails with a `ConfigError` naming the variable.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { PostgresLive } from "@pgfleet/postgres"
 * import { PostgresTelemetry } from "@pgfleet/postgres/telemetry"
 *
 * const program = Effect.flatMap(PostgresTelemetry.Prometheus, (p) => p.scrape)
 * const runnable = program.pipe(Effect.provide([PostgresLive, PostgresTelemetry.layerConfig()]))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: Omit<TelemetryOptions, "otlp"> = {}
): Layer.Layer<Prometheus, ConfigError.ConfigError> =>
  Layer.unwrapEffect(Effect.gen(function*() {
    const endpoint = yield* optionalUrl("OTEL_EXPORTER_OTLP_ENDPOINT")
    const traces = yield* optionalUrl("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    const metrics = yield* optionalUrl("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT")
    const interval = yield* Config.option(
      Config.string("OTEL_METRIC_EXPORT_INTERVAL").pipe(
        Config.validate({
          message: "OTEL_METRIC_EXPORT_INTERVAL: expected milliseconds as plain digits, more than 0",
          validation: (s) => /^\d+$/.test(s) && Number(s) > 0
        }),
        Config.map(Number)
      )
    )
    const on = Option.isSome(endpoint) || Option.isSome(traces) || Option.isSome(metrics)
    return layer({
      ...options,
      otlp: on
        ? {
          endpoint: Option.getOrUndefined(Option.map(endpoint, String)),
          tracesUrl: Option.getOrUndefined(Option.map(traces, String)),
          metricsUrl: Option.getOrUndefined(Option.map(metrics, String)),
          exportInterval: Option.getOrUndefined(Option.map(interval, Duration.millis))
        }
        : undefined
    })
  }))

/**
 * A `GET /metrics` answer for `@effect/platform`'s HTTP server: the scrape,
 * with the Prometheus text format's content type.
 *
 * @example
 * ```ts
 * import { HttpRouter } from "@effect/platform"
 * import { PostgresTelemetry } from "@pgfleet/postgres/telemetry"
 *
 * const router = HttpRouter.empty.pipe(HttpRouter.get("/metrics", PostgresTelemetry.metricsResponse))
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const metricsResponse: Effect.Effect<HttpServerResponse.HttpServerResponse, never, Prometheus> = Effect
  .flatMap(Prometheus, (p) => p.scrape).pipe(
    Effect.map((text) => HttpServerResponse.text(text, { contentType }))
  )
