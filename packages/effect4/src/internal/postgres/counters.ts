/**
 * The statement path's metrics, each with its attributes fixed once per
 * host, route and operation and cached, so recording a statement is a few
 * synchronous field writes with no allocation and no fiber work. Each series
 * is a metric of its own (`PostgresMetrics.operationDurationOf`,
 * `poolMetrics`, ...), not a `Metric.withAttributes` of a shared one (in
 * effect 4 that copies the context on every update), and the ones every
 * statement records are kept series (`keptSeries.ts`), which need no
 * registry lookup. Rare ones (failures, retries, timeouts) update the
 * registry as usual.
 */
import * as Context from "effect/Context"
import * as Metric from "effect/Metric"
import type { HostPool } from "../../HostPool.js"
import * as PostgresMetrics from "../../PostgresMetrics.js"
import * as KeptSeries from "./keptSeries.js"

/** Where a statement ran, as the counters need it. */
export interface Ran {
  readonly pool: HostPool
  readonly route: string
  readonly reason?: string | undefined
}

/** What one client records of its statements. Durations are in milliseconds, recorded in seconds. */
export interface Recorders {
  /** A read, in `pgfleet_reads_routed_total`, by host, route and `pg.auto` reason. */
  readonly read: (ran: Ran) => void
  /** A read tried again elsewhere after `failed` failed it, in `pgfleet_read_retries_total`. */
  readonly retry: (failed: HostPool) => void
  /** A statement that succeeded, in `db.client.operation.duration`. */
  readonly operation: (ran: Ran, operation: string, ms: number) => void
  /** A statement that failed, in `db.client.operation.duration` with its `error.type`. */
  readonly failed: (ran: Ran, operation: string, ms: number, errorType: string) => void
  /** A statement's wait for its connection and its use of it. */
  readonly connection: (pool: HostPool, waitMs: number, useMs: number) => void
  /** A statement that found no free connection in time, in `db.client.connection.timeouts`. */
  readonly timeout: (pool: HostPool) => void
}

/** A cache of metrics by one key; `make` sees the key and what it was asked with. */
const cached = <K, A, M>(make: (key: K, arg: A) => M) => {
  const map = new Map<K, M>()
  return (key: K, arg: A): M => {
    let metric = map.get(key)
    if (metric === undefined) map.set(key, metric = make(key, arg))
    return metric
  }
}

/**
 * The recorders of one client of the fleet named `fleet`; `namespace` is the
 * database name; updates go to the registry of `fleetContext`. Caches are keyed
 * by host, not pool: the writer's pool object stays while the host behind it
 * may change.
 */
export const make = (fleet: string, namespace: string, fleetContext: Context.Context<never>): Recorders => {
  // A counter's or histogram's update reads only the registry and the contextual attributes: a context of
  // those two makes each of its lookups one map hit, where the fleet's context answers after its overlays.
  const context = Context.makeUnsafe<never>(
    new Map<string, unknown>([
      [Metric.MetricRegistry.key, Context.get(fleetContext, Metric.MetricRegistry)],
      [Metric.CurrentMetricAttributes.key, Context.get(fleetContext, Metric.CurrentMetricAttributes)]
    ])
  )
  const durationAttributes = (pool: HostPool, route: string, operation: string) => ({
    "db.system.name": "postgresql",
    "db.namespace": namespace,
    "db.operation.name": operation,
    "server.address": pool.address.host,
    "server.port": String(pool.address.port),
    "pgfleet.route": route,
    "pgfleet.fleet": fleet
  })
  const durations = cached((_: string, pool: HostPool) =>
    cached((route: string) =>
      cached((operation: string) =>
        KeptSeries.histogram(
          PostgresMetrics.operationDurationOf(durationAttributes(pool, route, operation)),
          PostgresMetrics.secondsBoundaries,
          context
        )
      )
    )
  )
  const reads = cached((host: string) =>
    cached((route: string) =>
      cached((reason: string) =>
        KeptSeries.counter(
          PostgresMetrics.readsRoutedTo(host, route, reason === "" ? undefined : reason, fleet),
          context
        )
      )
    )
  )
  const retries = cached((host: string) => PostgresMetrics.readRetriesFrom(host, fleet))
  const pools = cached((_: string, pool: HostPool) => {
    const metrics = PostgresMetrics.poolMetrics(PostgresMetrics.poolName(fleet, pool.role, pool.host))
    return {
      timeouts: metrics.timeouts,
      waitTime: KeptSeries.histogram(metrics.waitTime, PostgresMetrics.secondsBoundaries, context),
      useTime: KeptSeries.histogram(metrics.useTime, PostgresMetrics.secondsBoundaries, context)
    }
  })
  const made = (ran: Ran) => {
    const host = ran.pool.host
    return {
      host,
      read: reads(host, undefined)(ran.route, undefined)(ran.reason ?? "", undefined),
      durations: durations(host, ran.pool)(ran.route, undefined)
    }
  }
  // A routing decision is made once per host and route and reused (`Routing.router`), so its series are
  // kept beside it: one lookup a statement. The host is checked, since the writer's pool outlives its host.
  const byRan = new WeakMap<Ran, ReturnType<typeof made>>()
  const seriesOf = (ran: Ran) => {
    // pg.auto makes a decision per statement (with its reason): those are not kept.
    if (ran.reason !== undefined) return made(ran)
    let series = byRan.get(ran)
    if (series === undefined || series.host !== ran.pool.host) byRan.set(ran, series = made(ran))
    return series
  }
  return {
    read: (ran) => seriesOf(ran).read.add(1),
    retry: (failed) => retries(failed.host, undefined).updateUnsafe(1, context),
    operation: (ran, operation, ms) => seriesOf(ran).durations(operation, undefined).record(ms / 1000),
    // A failure's error.type is one more attribute; failures are few, so its metric is made each time.
    failed: (ran, operation, ms, errorType) =>
      PostgresMetrics.operationDurationOf({
        ...durationAttributes(ran.pool, ran.route, operation),
        "error.type": errorType
      }).updateUnsafe(ms / 1000, context),
    connection: (pool, waitMs, useMs) => {
      const metrics = pools(pool.host, pool)
      metrics.waitTime.record(waitMs / 1000)
      metrics.useTime.record(useMs / 1000)
    },
    timeout: (pool) => pools(pool.host, pool).timeouts.updateUnsafe(1, context)
  }
}
