/**
 * The metrics pgfleet records, as Effect `Metric`s, under the same names as
 * the Effect 3 line (`@pgfleet/postgres`). Every one carries the attributes
 * `host` (`host:port`) and `role` (`writer` or `reader`) where that applies;
 * export them with any Effect metrics exporter (e.g. OpenTelemetry).
 *
 * @since 0.1.0
 */
import * as Metric from "effect/Metric"

/**
 * Reads routed, with the host that served them and `route`: `strategy` (a
 * healthy replica), `fallback` (the writer, no replica usable), `no-readers`
 * (the writer, none configured) or `retry` (a second attempt); for `pg.auto`
 * reads also the classification's `reason`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const readsRouted: Metric.Counter<number> = Metric.counter("pgfleet_reads_routed_total", {
  description: "Reads routed, by host and route",
  incremental: true
})

/**
 * {@link readsRouted} for one host and route (and `pg.auto` reason).
 *
 * @example
 * ```ts
 * import { Metric } from "effect"
 * import { PostgresMetrics } from "@pgfleet/effect4"
 *
 * const served = Metric.value(PostgresMetrics.readsRoutedTo("10.0.0.7:5432", "strategy"))
 * ```
 *
 * @since 0.1.0
 * @category metrics
 */
export const readsRoutedTo = (host: string, route: string, reason?: string): Metric.Counter<number> =>
  Metric.withAttributes(readsRouted, reason === undefined ? { host, route } : { host, route, reason })

/**
 * Reads tried again on another host after a connection-class failure, with the `host` that failed.
 *
 * @since 0.1.0
 * @category metrics
 */
export const readRetries: Metric.Counter<number> = Metric.counter("pgfleet_read_retries_total", {
  description: "Reads retried on another host after a connection failure",
  incremental: true
})

/**
 * Statements that found no free connection in time (`DB_POOL_TIMEOUT`) or
 * that the server refused a new connection for (53300), with `host` and
 * `role`. Overload: the host stays in routing.
 *
 * @since 0.1.0
 * @category metrics
 */
export const acquireTimeouts: Metric.Counter<number> = Metric.counter("pgfleet_acquire_timeouts_total", {
  description: "Statements that found no free connection in time",
  incremental: true
})

/**
 * Times a host was marked down by failed probes, with `detected_by`:
 * `query` when a failed statement made it suspect first, else `probe`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const hostDown: Metric.Counter<number> = Metric.counter("pgfleet_host_down_total", {
  description: "Transitions of a host to down",
  incremental: true
})

/**
 * 1 while a host is healthy and in its expected role, else 0.
 *
 * @since 0.1.0
 * @category metrics
 */
export const hostUp: Metric.Gauge<number> = Metric.gauge("pgfleet_host_up", {
  description: "1 if the host is healthy and in its role"
})

/**
 * Replica lag in bytes of WAL behind the writer.
 *
 * @since 0.1.0
 * @category metrics
 */
export const replicaLagBytes: Metric.Gauge<number> = Metric.gauge("pgfleet_replica_lag_bytes", {
  description: "WAL bytes behind the writer"
})

/**
 * Replica replay delay in seconds.
 *
 * @since 0.1.0
 * @category metrics
 */
export const replicaLagSeconds: Metric.Gauge<number> = Metric.gauge("pgfleet_replica_lag_seconds", {
  description: "Replay delay in seconds"
})

/**
 * Health probe latency in milliseconds.
 *
 * @since 0.1.0
 * @category metrics
 */
export const probeLatency: Metric.Histogram<number> = Metric.histogram("pgfleet_probe_latency_ms", {
  description: "Health probe round trip in milliseconds",
  boundaries: Metric.exponentialBoundaries({ start: 0.25, factor: 2, count: 14 })
})

/**
 * Pool connections, with `state`: `idle`, `in_use` or `waiting` (callers queued for one).
 *
 * @since 0.1.0
 * @category metrics
 */
export const poolConnections: Metric.Gauge<number> = Metric.gauge("pgfleet_pool_connections", {
  description: "Pool connections by state"
})

/**
 * Time to open and warm a pool, in milliseconds.
 *
 * @since 0.1.0
 * @category metrics
 */
export const poolWarmup: Metric.Gauge<number> = Metric.gauge("pgfleet_pool_warmup_ms", {
  description: "Pool open and warm-up time"
})

/**
 * Times writes moved to another writer candidate (a promotion followed).
 *
 * @since 0.1.0
 * @category metrics
 */
export const writerChanges: Metric.Counter<number> = Metric.counter("pgfleet_writer_changes_total", {
  description: "Times writes moved to another writer candidate",
  incremental: true
})
