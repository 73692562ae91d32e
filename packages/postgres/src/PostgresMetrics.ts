/**
 * The metrics pgfleet records, as Effect `Metric`s. What OpenTelemetry's
 * semantic conventions name (statement durations, pool connections and
 * waits) carries their names, units and attributes (`db.client.*`), so
 * existing database dashboards read them; `pgfleet_*` names are kept for
 * what those conventions have no name for: routing, retries, health, lag
 * and writer changes. Export them with any Effect metrics exporter (e.g.
 * `@pgfleet/postgres/telemetry`, or `@effect/opentelemetry`).
 *
 * @since 0.1.0
 */
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import * as MetricKey from "effect/MetricKey"
import type * as MetricKeyType from "effect/MetricKeyType"
import * as MetricLabel from "effect/MetricLabel"
import * as MetricHooks from "./internal/metricHooks.js"

// Sub-millisecond to multi-second: OpenTelemetry's advice for db.client.operation.duration, with
// finer buckets below 1 ms, where a replica on the same network answers.
const secondsBoundaries = MetricBoundaries.fromIterable([
  0.0001,
  0.00025,
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10
])

// @effect/opentelemetry reads a metric's unit from its `unit` tag.
const inSeconds = [MetricLabel.make("unit", "s")]

const histogramKey = (name: string, description: string) =>
  MetricKey.taggedWithLabels(MetricKey.histogram(name, secondsBoundaries, description), inSeconds)

/**
 * A metric of `key` with `attributes` in its key: updating it needs no
 * lookup and allocates nothing, where `Metric.tagged` would build its key
 * again on every update (the statement path updates on every statement).
 */
const withAttributes = <Type extends MetricKeyType.MetricKeyType<any, any>>(
  key: MetricKey.MetricKey<Type>,
  attributes: Readonly<Record<string, string>>
) => {
  const tagged = MetricKey.taggedWithLabels(key, Object.entries(attributes).map(([k, v]) => MetricLabel.make(k, v)))
  return MetricHooks.keep(tagged, Metric.fromMetricKey(tagged))
}

const operationDurationKey = histogramKey("db.client.operation.duration", "Duration of database client operations")

/**
 * `db.client.operation.duration`: how long each statement took, in seconds,
 * with `db.system.name`, `db.namespace`, `db.operation.name`,
 * `server.address` and `server.port` (the server that ran it),
 * `pgfleet.route`, and `error.type` when it failed (the SQLSTATE, a
 * `PostgresError` reason, or the failure's kind). A read tried again
 * elsewhere records each attempt, on its own server.
 *
 * @example
 * ```ts
 * import { Effect, Metric } from "effect"
 * import { PostgresMetrics } from "@pgfleet/postgres"
 *
 * const histogram = Metric.value(PostgresMetrics.operationDuration)
 * ```
 *
 * @since 0.2.0
 * @category metrics
 */
export const operationDuration: Metric.Metric.Histogram<number> = Metric.fromMetricKey(operationDurationKey)

/**
 * {@link operationDuration} with these attributes in its key (see {@link readsRoutedTo}).
 *
 * @since 0.2.0
 * @category metrics
 */
export const operationDurationWith = (attributes: Readonly<Record<string, string>>): Metric.Metric.Histogram<number> =>
  withAttributes(operationDurationKey, attributes)

/**
 * `db.client.connection.count`: connections of each pool, with
 * `db.client.connection.state` (`idle` or `used`) and
 * `db.client.connection.pool.name` (see {@link poolName}). Updated on every
 * health probe.
 *
 * @since 0.2.0
 * @category metrics
 */
export const connectionCount = Metric.gauge("db.client.connection.count", {
  description: "The number of connections that are currently in the state described by the state attribute"
})

/**
 * `db.client.connection.max`: the most connections a pool may open (`DB_MAX_POOL_SIZE`).
 *
 * @since 0.2.0
 * @category metrics
 */
export const connectionMax = Metric.gauge("db.client.connection.max", {
  description: "The maximum number of open connections allowed"
})

/**
 * `db.client.connection.idle.min`: the connections a pool keeps open (`DB_MIN_POOL_SIZE`).
 *
 * @since 0.2.0
 * @category metrics
 */
export const connectionIdleMin = Metric.gauge("db.client.connection.idle.min", {
  description: "The minimum number of idle open connections allowed"
})

/**
 * `db.client.connection.pending_requests`: callers waiting for a connection of the pool.
 *
 * @since 0.2.0
 * @category metrics
 */
export const connectionPendingRequests = Metric.gauge("db.client.connection.pending_requests", {
  description: "The number of current pending requests for an open connection"
})

const connectionTimeoutsKey = MetricKey.counter("db.client.connection.timeouts", {
  description: "The number of connection timeouts that have occurred trying to obtain a connection from the pool",
  incremental: true
})

/**
 * `db.client.connection.timeouts`: statements that found no free connection
 * within `DB_POOL_TIMEOUT`, or that the server refused a new connection for
 * (53300). Overload: the host stays in routing.
 *
 * @since 0.2.0
 * @category metrics
 */
export const connectionTimeouts = Metric.fromMetricKey(connectionTimeoutsKey)

const connectionCreateTimeKey = histogramKey(
  "db.client.connection.create_time",
  "The time it took to create a new connection"
)

/**
 * `db.client.connection.create_time`: seconds to open a new connection (TCP, TLS, login).
 *
 * @since 0.2.0
 * @category metrics
 */
export const connectionCreateTime: Metric.Metric.Histogram<number> = Metric.fromMetricKey(connectionCreateTimeKey)

const connectionWaitTimeKey = histogramKey(
  "db.client.connection.wait_time",
  "The time it took to obtain an open connection from the pool"
)

/**
 * `db.client.connection.wait_time`: seconds a statement waited for a pooled connection.
 *
 * @since 0.2.0
 * @category metrics
 */
export const connectionWaitTime: Metric.Metric.Histogram<number> = Metric.fromMetricKey(connectionWaitTimeKey)

const connectionUseTimeKey = histogramKey(
  "db.client.connection.use_time",
  "The time between borrowing a connection and returning it to the pool"
)

/**
 * `db.client.connection.use_time`: seconds a statement held its connection,
 * from checkout to release.
 *
 * @since 0.2.0
 * @category metrics
 */
export const connectionUseTime: Metric.Metric.Histogram<number> = Metric.fromMetricKey(connectionUseTimeKey)

/**
 * The `db.client.connection.pool.name` of a host's pool: the fleet's name,
 * the pool's role and `host:port` (`orders reader 10.0.0.7:5432`), so a
 * dashboard tells the pools apart.
 *
 * @since 0.2.0
 * @category metrics
 */
export const poolName = (fleet: string, role: string, host: string): string => `${fleet} ${role} ${host}`

/**
 * The pool metrics of one pool, with `db.client.connection.pool.name` in
 * their keys (see {@link readsRoutedTo}).
 *
 * @since 0.2.0
 * @category metrics
 */
export const poolMetrics = (name: string) => {
  const attributes = { "db.client.connection.pool.name": name }
  return {
    createTime: withAttributes(connectionCreateTimeKey, attributes) as Metric.Metric.Histogram<number>,
    waitTime: withAttributes(connectionWaitTimeKey, attributes) as Metric.Metric.Histogram<number>,
    useTime: withAttributes(connectionUseTimeKey, attributes) as Metric.Metric.Histogram<number>,
    timeouts: withAttributes(connectionTimeoutsKey, attributes) as Metric.Metric.Counter<number>
  }
}

const readsRoutedKey = MetricKey.counter("pgfleet_reads_routed_total", {
  description: "Reads routed, by host and route",
  incremental: true
})

/**
 * Reads routed, tagged with the host that served them and `route`:
 * `strategy` (a healthy replica), `fallback` (the writer, no replica usable),
 * `no-readers` (the writer, none configured) or `retry` (a second attempt).
 *
 * @since 0.1.0
 * @category metrics
 */
export const readsRouted = Metric.fromMetricKey(readsRoutedKey)

/**
 * {@link readsRouted} for one host and route, and for `pg.auto` reads the
 * classification's reason (`parsed-read`, `show`, ...), in the fleet named
 * `fleet` (`DB_FLEET_NAME`). The tags are part of the metric's key, so
 * updating it needs no lookup (it runs on every read).
 *
 * @example
 * ```ts
 * import { Effect, Metric } from "effect"
 * import { PostgresMetrics } from "@pgfleet/postgres"
 *
 * const served = Metric.value(PostgresMetrics.readsRoutedTo("10.0.0.7:5432", "strategy"))
 * ```
 *
 * @since 0.1.0
 * @category metrics
 */
export const readsRoutedTo = (
  host: string,
  route: string,
  reason?: string | undefined,
  fleet: string = "default"
): Metric.Metric.Counter<number> =>
  withAttributes(readsRoutedKey, {
    fleet,
    host,
    route,
    ...(reason === undefined ? {} : { reason })
  }) as Metric.Metric.Counter<number>

const readRetriesKey = MetricKey.counter("pgfleet_read_retries_total", {
  description: "Reads retried on another host after a connection failure",
  incremental: true
})

/**
 * Reads tried again on another host after a connection-class failure.
 *
 * @since 0.1.0
 * @category metrics
 */
export const readRetries = Metric.fromMetricKey(readRetriesKey)

/**
 * {@link readRetries} for reads that failed on `host` (see {@link readsRoutedTo}).
 *
 * @since 0.2.0
 * @category metrics
 */
export const readRetriesFrom = (host: string, fleet: string = "default"): Metric.Metric.Counter<number> =>
  withAttributes(readRetriesKey, { fleet, host }) as Metric.Metric.Counter<number>

/**
 * {@link connectionTimeouts}, under the name it had before pgfleet used
 * OpenTelemetry's.
 *
 * @since 0.1.0
 * @category metrics
 * @deprecated Use {@link connectionTimeouts}.
 */
export const acquireTimeouts = connectionTimeouts

/**
 * Times a host was marked down by failed probes, tagged with `detected_by`:
 * `query` when a failed statement made it suspect first, else `probe`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const hostDown = Metric.counter("pgfleet_host_down_total", {
  description: "Transitions of a host to down",
  incremental: true
})

/**
 * 1 while a host is healthy and in its expected role, else 0.
 *
 * @since 0.1.0
 * @category metrics
 */
export const hostUp = Metric.gauge("pgfleet_host_up", { description: "1 if the host is healthy and in its role" })

/**
 * Replica lag in bytes of WAL behind the writer.
 *
 * @since 0.1.0
 * @category metrics
 */
export const replicaLagBytes = Metric.gauge("pgfleet_replica_lag_bytes", { description: "WAL bytes behind the writer" })

/**
 * Replica replay delay in seconds.
 *
 * @since 0.1.0
 * @category metrics
 */
export const replicaLagSeconds = Metric.gauge("pgfleet_replica_lag_seconds", { description: "Replay delay in seconds" })

/**
 * Health probe latency in milliseconds.
 *
 * @since 0.1.0
 * @category metrics
 */
export const probeLatency = Metric.histogram(
  "pgfleet_probe_latency_ms",
  MetricBoundaries.exponential({ start: 0.25, factor: 2, count: 14 }),
  "Health probe round trip in milliseconds"
)

/**
 * {@link connectionCount}, under the name it had before pgfleet used
 * OpenTelemetry's (callers waiting are {@link connectionPendingRequests}).
 *
 * @since 0.1.0
 * @category metrics
 * @deprecated Use {@link connectionCount}.
 */
export const poolConnections = connectionCount

/**
 * Time to open and warm a pool, in milliseconds.
 *
 * @since 0.1.0
 * @category metrics
 */
export const poolWarmup = Metric.gauge("pgfleet_pool_warmup_ms", { description: "Pool open and warm-up time" })

/**
 * Times writes moved to another writer candidate (a promotion followed).
 *
 * @since 0.1.0
 * @category metrics
 */
export const writerChanges = Metric.counter("pgfleet_writer_changes_total", {
  description: "Times writes moved to another writer candidate",
  incremental: true
})
