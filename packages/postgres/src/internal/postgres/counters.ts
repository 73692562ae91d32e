/**
 * The statement path's counters, cached per host so counting a statement is
 * one synchronous update, with no fiber work.
 */
import * as Metric from "effect/Metric"
import type { HostPool } from "../../HostPool.js"
import * as PostgresMetrics from "../../PostgresMetrics.js"

const noTags: ReadonlyArray<never> = []

/** Counts a read in `pgfleet_reads_routed_total`, by host, route and `pg.auto` reason. */
export const readsRouted = () => {
  // Keyed by host, not pool: the writer's pool object stays while the host behind it may change.
  const byHost = new Map<string, Map<string, Metric.Metric.Counter<number>>>()
  return (pool: HostPool, route: string, reason: string | undefined): void => {
    let byRoute = byHost.get(pool.host)
    if (byRoute === undefined) byHost.set(pool.host, byRoute = new Map())
    const key = reason === undefined ? route : `${route}|${reason}`
    let counter = byRoute.get(key)
    if (counter === undefined) byRoute.set(key, counter = PostgresMetrics.readsRoutedTo(pool.host, route, reason))
    counter.unsafeUpdate(1, noTags)
  }
}

/** Counts an `AcquireTimeout` by host and role. */
export const acquireTimeouts = () => {
  const byHost = new Map<string, Metric.Metric.Counter<number>>()
  return (pool: HostPool): void => {
    let counter = byHost.get(pool.host)
    if (counter === undefined) {
      byHost.set(
        pool.host,
        counter = Metric.tagged(Metric.tagged(PostgresMetrics.acquireTimeouts, "host", pool.host), "role", pool.role)
      )
    }
    counter.unsafeUpdate(1, noTags)
  }
}
