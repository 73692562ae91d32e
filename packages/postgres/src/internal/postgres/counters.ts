/**
 * The statement path's metrics, each tagged once per host and route and
 * cached as its registry hook, so recording a statement is one lookup and a
 * few synchronous updates, with no allocation and no fiber work.
 */
import type * as MetricHook from "effect/MetricHook"
import type { HostPool } from "../../HostPool.js"
import * as PostgresMetrics from "../../PostgresMetrics.js"
import { hookOf } from "../metricHooks.js"
import type { Recorders, Target } from "./routedQuery.js"

type Hook = MetricHook.MetricHook<number, unknown>

/** A cache of values by one key; `make` sees the key and what it was asked with. */
const cached = <K, A, M>(make: (key: K, arg: A) => M) => {
  const map = new Map<K, M>()
  return (key: K, arg: A): M => {
    let value = map.get(key)
    if (value === undefined) map.set(key, value = make(key, arg))
    return value
  }
}

/** What one statement on a target updates. */
interface TargetHooks {
  readonly host: string
  readonly read: Hook
  readonly durationOf: (operation: string, _: undefined) => Hook
  readonly wait: Hook
  readonly use: Hook
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
      cached((operation: string) =>
        hookOf(PostgresMetrics.operationDurationWith(durationAttributes(pool, route, operation)))
      )
    )
  )
  const reads = cached((host: string) =>
    cached((route: string) =>
      cached((reason: string) =>
        hookOf(PostgresMetrics.readsRoutedTo(host, route, reason === "" ? undefined : reason, fleet))
      )
    )
  )
  const retries = cached((host: string) => hookOf(PostgresMetrics.readRetriesFrom(host, fleet)))
  const pools = cached((_: string, pool: HostPool) => {
    const metrics = PostgresMetrics.poolMetrics(PostgresMetrics.poolName(fleet, pool.role, pool.host))
    return { wait: hookOf(metrics.waitTime), use: hookOf(metrics.useTime), timeouts: hookOf(metrics.timeouts) }
  })
  const made = (target: Target): TargetHooks => {
    const host = target.pool.host
    const pool = pools(host, target.pool)
    return {
      host,
      read: reads(host, undefined)(target.route, undefined)(target.reason ?? "", undefined),
      durationOf: durations(host, target.pool)(target.route, undefined),
      wait: pool.wait,
      use: pool.use
    }
  }
  // A routing decision is made once per host and route and reused (`Routing.router`), so its hooks are
  // kept beside it, and the last one used is at hand: one replica's reads look up nothing. The host is
  // checked, since the writer's pool outlives its host.
  const byTarget = new WeakMap<Target, TargetHooks>()
  let lastTarget: Target | undefined
  let lastHooks: TargetHooks | undefined
  const hooksOf = (target: Target): TargetHooks => {
    if (target === lastTarget && lastHooks!.host === target.pool.host) return lastHooks!
    // pg.auto makes a target per statement (with its reason): those are not kept.
    if (target.reason !== undefined) return made(target)
    let hooks = byTarget.get(target)
    if (hooks === undefined || hooks.host !== target.pool.host) byTarget.set(target, hooks = made(target))
    lastTarget = target
    lastHooks = hooks
    return hooks
  }
  return {
    read: (target) => hooksOf(target).read.update(1),
    retry: (failed) => retries(failed.host, undefined).update(1),
    operation: (target, operation, waitMs, useMs) => {
      const hooks = hooksOf(target)
      hooks.durationOf(operation, undefined).update((waitMs + useMs) / 1000)
      hooks.wait.update(waitMs / 1000)
      hooks.use.update(useMs / 1000)
    },
    // A failure's error.type is one more attribute; failures are few, so its key is made each time.
    failed: (target, operation, ms, errorType) =>
      hookOf(PostgresMetrics.operationDurationWith({
        ...durationAttributes(target.pool, target.route, operation),
        "error.type": errorType
      })).update(ms / 1000),
    connection: (pool, waitMs, useMs) => {
      const hooks = pools(pool.host, pool)
      hooks.wait.update(waitMs / 1000)
      hooks.use.update(useMs / 1000)
    },
    timeout: (pool) => pools(pool.host, pool).timeouts.update(1)
  }
}
