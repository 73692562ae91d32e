/**
 * The statement path's metrics, each tagged once per host and route and
 * cached, so recording a statement is a few synchronous updates with no
 * allocation and no fiber work.
 */
import type { HostPool } from "../../HostPool.js"
import * as PostgresMetrics from "../../PostgresMetrics.js"
import type { Recorders, Target } from "./routedQuery.js"

const noTags: ReadonlyArray<never> = []

/** A cache of tagged metrics by one key; `make` sees the key and what it was asked with. */
const cached = <K, A, M>(make: (key: K, arg: A) => M) => {
  const map = new Map<K, M>()
  return (key: K, arg: A): M => {
    let metric = map.get(key)
    if (metric === undefined) map.set(key, metric = make(key, arg))
    return metric
  }
}

/**
 * The recorders of one client of the fleet named `fleet`; `namespace` is the database name. Caches are
 * keyed by host, not pool: the writer's pool object stays while the host
 * behind it may change.
 */
export const make = (fleet: string, namespace: string): Recorders => {
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
      cached((operation: string) => PostgresMetrics.operationDurationWith(durationAttributes(pool, route, operation)))
    )
  )
  const reads = cached((host: string) =>
    cached((route: string) =>
      cached((reason: string) => PostgresMetrics.readsRoutedTo(host, route, reason === "" ? undefined : reason, fleet))
    )
  )
  const retries = cached((host: string) => PostgresMetrics.readRetriesFrom(host, fleet))
  const pools = cached((_: string, pool: HostPool) =>
    PostgresMetrics.poolMetrics(PostgresMetrics.poolName(fleet, pool.role, pool.host))
  )
  const made = (target: Target) => {
    const host = target.pool.host
    return {
      host,
      read: reads(host, undefined)(target.route, undefined)(target.reason ?? "", undefined),
      durations: durations(host, target.pool)(target.route, undefined)
    }
  }
  // A routing decision is made once per host and route and reused (`Routing.router`), so its metrics are
  // kept beside it: one lookup a statement. The host is checked, since the writer's pool outlives its host.
  const byTarget = new WeakMap<Target, ReturnType<typeof made>>()
  const metricsOf = (target: Target) => {
    // pg.auto makes a target per statement (with its reason): those are not kept.
    if (target.reason !== undefined) return made(target)
    let metrics = byTarget.get(target)
    if (metrics === undefined || metrics.host !== target.pool.host) byTarget.set(target, metrics = made(target))
    return metrics
  }
  return {
    read: (target) => metricsOf(target).read.unsafeUpdate(1, noTags),
    retry: (failed) => retries(failed.host, undefined).unsafeUpdate(1, noTags),
    operation: (target, operation, ms) =>
      metricsOf(target).durations(operation, undefined).unsafeUpdate(ms / 1000, noTags),
    // A failure's error.type is one more attribute; failures are few, so its key is made each time.
    failed: (target, operation, ms, errorType) =>
      PostgresMetrics.operationDurationWith({
        ...durationAttributes(target.pool, target.route, operation),
        "error.type": errorType
      }).unsafeUpdate(ms / 1000, noTags),
    connection: (pool, waitMs, useMs) => {
      const metrics = pools(pool.host, pool)
      metrics.waitTime.unsafeUpdate(waitMs / 1000, noTags)
      metrics.useTime.unsafeUpdate(useMs / 1000, noTags)
    },
    timeout: (pool) => pools(pool.host, pool).timeouts.unsafeUpdate(1, noTags)
  }
}
