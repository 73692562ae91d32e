/**
 * The metrics pgfleet records, as Effect `Metric`s, under the same names,
 * units and attributes as the Effect 3 line (`@pgfleet/postgres`). What
 * OpenTelemetry's semantic conventions name (statement durations, pool
 * connections and waits) carries their names (`db.client.*`), so existing
 * database dashboards read them; `pgfleet_*` names are kept for what those
 * conventions have no name for: routing, retries, health, lag and writer
 * changes. Export them with any Effect metrics exporter (e.g. effect's
 * `OtlpMetrics` or `PrometheusMetrics`); a histogram in seconds carries the
 * attribute `unit: "s"`, which the OTLP exporter reads as its unit.
 *
 * @since 0.1.0
 */
import * as Metric from "effect/Metric"

/**
 * The bucket boundaries, in seconds, of every duration histogram here:
 * sub-millisecond to multi-second, OpenTelemetry's advice for
 * `db.client.operation.duration` with finer buckets below 1 ms, where a
 * replica on the same network answers.
 *
 * @example
 * ```ts
 * import { PostgresMetrics } from "@pgfleet/effect4"
 *
 * const slowest = PostgresMetrics.secondsBoundaries.at(-1) // 10
 * ```
 *
 * @since 0.1.0
 * @category metrics
 */
export const secondsBoundaries: ReadonlyArray<number> = Metric.boundariesFromIterable([
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

// A series with its attributes in the metric itself, not added by `Metric.withAttributes`: effect 4's
// withAttributes adds them to a copy of the context on every update, and the metric it wraps computes
// its series key again whenever two series of it alternate. Such a metric computes its key once. The
// series is the same: one id, description and set of attributes.
const inSeconds = (
  name: string,
  description: string,
  attributes?: Record<string, string> | undefined
): Metric.Histogram<number> =>
  Metric.histogram(name, { description, boundaries: secondsBoundaries, attributes: { unit: "s", ...attributes } })

const counter = (name: string, description: string, attributes?: Record<string, string> | undefined) =>
  Metric.counter(name, { description, incremental: true, attributes })

/**
 * `db.client.operation.duration`: how long each statement took, in seconds,
 * with `db.system.name`, `db.namespace`, `db.operation.name`,
 * `server.address` and `server.port` (the server that ran it),
 * `pgfleet.route`, `pgfleet.fleet`, and `error.type` when it failed (the
 * SQLSTATE, a `PostgresError` reason, or the failure's kind). A read tried
 * again elsewhere records each attempt, on its own server.
 *
 * @example
 * ```ts
 * import { Metric } from "effect"
 * import { PostgresMetrics } from "@pgfleet/effect4"
 *
 * const histogram = Metric.value(PostgresMetrics.operationDuration)
 * ```
 *
 * @since 0.1.0
 * @category metrics
 */
export const operationDuration: Metric.Histogram<number> = inSeconds(
  "db.client.operation.duration",
  "Duration of database client operations"
)

/**
 * One series of {@link operationDuration}: the same metric with these
 * attributes (besides `unit`), as `Metric.withAttributes` would give, but
 * with its series key computed once, so each update allocates nothing. Make
 * it once per series and keep it.
 *
 * @example
 * ```ts
 * import { Metric } from "effect"
 * import { PostgresMetrics } from "@pgfleet/effect4"
 *
 * const reads = PostgresMetrics.operationDurationOf({ "db.operation.name": "execute", "pgfleet.route": "strategy" })
 * const histogram = Metric.value(reads)
 * ```
 *
 * @since 0.2.0
 * @category metrics
 */
export const operationDurationOf = (attributes: Record<string, string>): Metric.Histogram<number> =>
  inSeconds("db.client.operation.duration", "Duration of database client operations", attributes)

/**
 * `db.client.connection.count`: connections of each pool, with
 * `db.client.connection.state` (`idle` or `used`) and
 * `db.client.connection.pool.name` (see {@link poolName}). Updated on every
 * health probe.
 *
 * @since 0.1.0
 * @category metrics
 */
export const connectionCount: Metric.Gauge<number> = Metric.gauge("db.client.connection.count", {
  description: "The number of connections that are currently in the state described by the state attribute"
})

/**
 * `db.client.connection.max`: the most connections a pool may open (`;max=N`, else `DB_MAX_POOL_SIZE`).
 *
 * @since 0.1.0
 * @category metrics
 */
export const connectionMax: Metric.Gauge<number> = Metric.gauge("db.client.connection.max", {
  description: "The maximum number of open connections allowed"
})

/**
 * `db.client.connection.idle.min`: the connections a pool keeps open (`DB_MIN_POOL_SIZE`).
 *
 * @since 0.1.0
 * @category metrics
 */
export const connectionIdleMin: Metric.Gauge<number> = Metric.gauge("db.client.connection.idle.min", {
  description: "The minimum number of idle open connections allowed"
})

/**
 * `db.client.connection.pending_requests`: callers waiting for a connection of the pool.
 *
 * @since 0.1.0
 * @category metrics
 */
export const connectionPendingRequests: Metric.Gauge<number> = Metric.gauge(
  "db.client.connection.pending_requests",
  { description: "The number of current pending requests for an open connection" }
)

/**
 * `db.client.connection.timeouts`: statements that found no free connection
 * within `DB_POOL_TIMEOUT`, or that the server refused a new connection for
 * (53300). Overload: the host stays in routing.
 *
 * @since 0.1.0
 * @category metrics
 */
export const connectionTimeouts: Metric.Counter<number> = counter(
  "db.client.connection.timeouts",
  "The number of connection timeouts that have occurred trying to obtain a connection from the pool"
)

/**
 * `db.client.connection.create_time`: seconds to open a new connection (TCP, TLS, login).
 *
 * @since 0.1.0
 * @category metrics
 */
export const connectionCreateTime: Metric.Histogram<number> = inSeconds(
  "db.client.connection.create_time",
  "The time it took to create a new connection"
)

/**
 * `db.client.connection.wait_time`: seconds a statement waited for a pooled connection.
 *
 * @since 0.1.0
 * @category metrics
 */
export const connectionWaitTime: Metric.Histogram<number> = inSeconds(
  "db.client.connection.wait_time",
  "The time it took to obtain an open connection from the pool"
)

/**
 * `db.client.connection.use_time`: seconds a statement held its connection,
 * from checkout to release.
 *
 * @since 0.1.0
 * @category metrics
 */
export const connectionUseTime: Metric.Histogram<number> = inSeconds(
  "db.client.connection.use_time",
  "The time between borrowing a connection and returning it to the pool"
)

/**
 * The `db.client.connection.pool.name` of a host's pool: the fleet's name,
 * the pool's role and `host:port` (`orders reader 10.0.0.7:5432`), so a
 * dashboard tells the pools apart.
 *
 * @example
 * ```ts
 * import { PostgresMetrics } from "@pgfleet/effect4"
 *
 * const name = PostgresMetrics.poolName("orders", "reader", "10.0.0.7:5432") // "orders reader 10.0.0.7:5432"
 * ```
 *
 * @since 0.1.0
 * @category metrics
 */
export const poolName = (fleet: string, role: string, host: string): string => `${fleet} ${role} ${host}`

/**
 * The per-statement pool metrics of one pool, with
 * `db.client.connection.pool.name` in their attributes. Make them once per
 * pool and keep them: each computes its series key once, so updating it
 * then allocates nothing.
 *
 * @since 0.1.0
 * @category metrics
 */
export const poolMetrics = (name: string): {
  readonly createTime: Metric.Histogram<number>
  readonly waitTime: Metric.Histogram<number>
  readonly useTime: Metric.Histogram<number>
  readonly timeouts: Metric.Counter<number>
} => {
  const attributes = { "db.client.connection.pool.name": name }
  return {
    createTime: inSeconds(connectionCreateTime.id, connectionCreateTime.description!, attributes),
    waitTime: inSeconds(connectionWaitTime.id, connectionWaitTime.description!, attributes),
    useTime: inSeconds(connectionUseTime.id, connectionUseTime.description!, attributes),
    timeouts: counter(connectionTimeouts.id, connectionTimeouts.description!, attributes)
  }
}

/**
 * Reads routed, with the host that served them, `route` — `strategy` (a
 * healthy replica), `fallback` (the writer, no replica usable), `no-readers`
 * (the writer, none configured) or `retry` (a second attempt) — `fleet`, and
 * for `pg.auto` reads the classification's `reason`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const readsRouted: Metric.Counter<number> = counter(
  "pgfleet_reads_routed_total",
  "Reads routed, by host and route"
)

/**
 * {@link readsRouted} for one host and route (and `pg.auto` reason), in the
 * fleet named `fleet` (`DB_FLEET_NAME`).
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
export const readsRoutedTo = (
  host: string,
  route: string,
  reason?: string | undefined,
  fleet: string = "default"
): Metric.Counter<number> =>
  counter(
    readsRouted.id,
    readsRouted.description!,
    reason === undefined ? { fleet, host, route } : { fleet, host, route, reason }
  )

/**
 * Reads tried again on another host after a connection-class failure, with `fleet` and the `host` that failed.
 *
 * @since 0.1.0
 * @category metrics
 */
export const readRetries: Metric.Counter<number> = counter(
  "pgfleet_read_retries_total",
  "Reads retried on another host after a connection failure"
)

/**
 * {@link readRetries} for reads that failed on `host`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const readRetriesFrom = (host: string, fleet: string = "default"): Metric.Counter<number> =>
  counter(readRetries.id, readRetries.description!, { fleet, host })

/**
 * {@link connectionTimeouts}, under the name it had before pgfleet used OpenTelemetry's.
 *
 * @since 0.1.0
 * @category metrics
 * @deprecated Use {@link connectionTimeouts}.
 */
export const acquireTimeouts: Metric.Counter<number> = connectionTimeouts

/**
 * Times a host was marked down by failed probes, with `fleet`, `host`,
 * `role` and `detected_by`: `query` when a failed statement made it suspect
 * first, else `probe`.
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
 * {@link connectionCount}, under the name it had before pgfleet used
 * OpenTelemetry's (callers waiting are {@link connectionPendingRequests}).
 *
 * @since 0.1.0
 * @category metrics
 * @deprecated Use {@link connectionCount}.
 */
export const poolConnections: Metric.Gauge<number> = connectionCount

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
 * Times writes moved to another writer candidate (a promotion followed), with `fleet`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const writerChanges: Metric.Counter<number> = Metric.counter("pgfleet_writer_changes_total", {
  description: "Times writes moved to another writer candidate",
  incremental: true
})
