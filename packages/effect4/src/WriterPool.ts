/**
 * The primary's pool as a service: opened, warmed and role-checked when its layer is built, moved to
 * another candidate when the primary changes, and closed by its finalizer.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { WriterPool } from "@pgfleet/effect4"
 *
 * const inUse = Effect.map(Effect.service(WriterPool.WriterPool), (pool) => pool.counts().inUse)
 * ```
 *
 * @since 0.1.0
 */
import { Failure, Probe } from "@pgfleet/core"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as HostPool from "./HostPool.js"
import { clientConfig } from "./internal/postgresConfig.js"
import type { HostAddress, PostgresSettings } from "./PostgresConfig.js"
import { hostLabel, PostgresConfig } from "./PostgresConfig.js"
import { PostgresError } from "./PostgresError.js"

/**
 * The current primary's pool (its client, host and counts, always those of
 * the current writer), the candidates, and the switch that moves writes.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service extends HostPool.HostPool {
  /** Every writer candidate, in `DB_WRITER_HOST` order. */
  readonly candidates: ReadonlyArray<HostAddress>
  /**
   * Moves writes to `address`: opens and warms a pool there (it must answer
   * as a primary), makes it current, then drains the old pool (checked-out
   * connections get `DB_POOL_CLOSE_GRACE_MS`) and closes it.
   */
  readonly switchTo: (address: HostAddress) => Effect.Effect<void, PostgresError>
  /**
   * {@link HostPool.HostPool.abandon} for every writer pool open on `host`:
   * the current one, and old ones still draining after a switch.
   */
  readonly abandonHost: (host: string) => void
}

/**
 * The primary's pool.
 *
 * @since 0.1.0
 * @category tags
 */
export class WriterPool extends Context.Service<WriterPool, Service>()("@pgfleet/effect4/WriterPool") {}

/**
 * Asks every candidate at once whether it is a primary. Exactly one: that
 * one. More than one: `SplitBrain`, never a guess. None: retried with the
 * backoff, then `ConnectFailed` naming what each candidate answered.
 */
const discover = (settings: PostgresSettings): Effect.Effect<HostAddress, PostgresError> => {
  const timeoutMs = Duration.toMillis(settings.connectTimeout) + Duration.toMillis(settings.healthCheckTimeout)
  const names = settings.writers.map(hostLabel).join(", ")
  let answers = ""
  const once = Effect.promise(() =>
    Promise.allSettled(settings.writers.map((address) => Probe.askRole(clientConfig(settings, address), timeoutMs)))
  ).pipe(
    Effect.flatMap((results) => {
      answers = results.map((r, i) =>
        `${hostLabel(settings.writers[i]!)}: ${r.status === "fulfilled" ? r.value : Failure.describe(r.reason)}`
      ).join("; ")
      const primaries = settings.writers.filter((_, i) => {
        const r = results[i]!
        return r.status === "fulfilled" && r.value === "primary"
      })
      if (primaries.length === 1) return Effect.succeed(primaries[0]!)
      return Effect.fail(
        new PostgresError({
          reason: primaries.length > 1 ? "SplitBrain" : "ConnectFailed",
          host: names,
          message: primaries.length > 1
            ? `more than one DB_WRITER_HOST candidate is a primary (${answers}); pgfleet will not guess`
            : `no DB_WRITER_HOST candidate is a primary (${answers})`
        })
      )
    })
  )
  const logged = Effect.tapError(once, (e) =>
    e.reason === "SplitBrain" ? Effect.void : Effect.logWarning(
      "pgfleet: no writer candidate is a primary yet, retrying"
    ).pipe(Effect.annotateLogs({ candidates: answers })))
  return Effect.retry(logged, HostPool.retryPolicy(settings, (e: PostgresError) => e.reason !== "SplitBrain"))
}

/**
 * Finds the primary among the `DB_WRITER_HOST` candidates (one candidate: it
 * must be a primary), opens and warms its pool, and closes whatever pool is
 * current when released.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<WriterPool, PostgresError, PostgresConfig> = Layer.effect(
  WriterPool,
  Effect.gen(function*() {
    const settings = yield* PostgresConfig
    const layerScope = yield* Effect.scope
    /** The current pool and those still draining after a switch. */
    const openPools = new Set<HostPool.HostPool>()
    const open = (address: HostAddress) =>
      Effect.gen(function*() {
        const scope = yield* Scope.fork(layerScope, "sequential")
        let opened: HostPool.HostPool | undefined
        // Added first, so it runs last: a draining pool stays abandonable until it has closed.
        yield* Scope.addFinalizer(scope, Effect.sync(() => opened && openPools.delete(opened)))
        const pool: HostPool.HostPool = yield* HostPool.make({ address, role: "writer", settings }).pipe(
          Scope.provide(scope),
          Effect.onError(() => Scope.close(scope, Exit.void))
        )
        opened = pool
        openPools.add(pool)
        return { pool, scope }
      })

    const first = settings.writers.length === 1 ? settings.writers[0]! : yield* discover(settings)
    let current = yield* open(first)

    const switchTo = (address: HostAddress) =>
      Effect.gen(function*() {
        const next = yield* open(address)
        const old = current
        current = next
        // The old pool drains in the background: writes already go to the new one.
        yield* Effect.forkIn(Scope.close(old.scope, Exit.void), layerScope)
      })

    const service: Service = {
      get host() {
        return current.pool.host
      },
      get address() {
        return current.pool.address
      },
      role: "writer",
      get maxPoolSize() {
        return current.pool.maxPoolSize
      },
      get weight() {
        return current.pool.weight
      },
      get pgPool() {
        return current.pool.pgPool
      },
      get sqlPg() {
        return current.pool.sqlPg
      },
      counts: () => current.pool.counts(),
      get warmupTime() {
        return current.pool.warmupTime
      },
      newClient: () => current.pool.newClient(),
      dropCheckedOut: () => current.pool.dropCheckedOut(),
      abandon: () => current.pool.abandon(),
      abandonHost: (host) => {
        for (const pool of openPools) if (pool.host === host) pool.abandon()
      },
      recycle: () => current.pool.recycle(),
      candidates: settings.writers,
      switchTo
    }
    return service
  })
)
