/**
 * Probes every host in the background and keeps what it learns: up or down,
 * primary or standby, and how far each replica lags. The router asks it which
 * replicas are usable. A statement that fails on a connection makes its host
 * suspect and probes it at once; only failed probes mark a host down, so one
 * terminated backend costs one statement, and a dead host is still dropped
 * within one probe round-trip.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Queue from "effect/Queue"
import type pg from "pg"
import type { HostPool } from "./HostPool.js"
import { classify, describe, isHostEvidence } from "./internal/failures.js"
import * as HostState from "./internal/hostState.js"
import { lsnBytes, PROBE_SQL } from "./internal/probe.js"
import type { ProbeRow } from "./internal/probe.js"
import { PostgresConfig } from "./PostgresConfig.js"
import type { PostgresSettings } from "./PostgresConfig.js"
import * as PostgresMetrics from "./PostgresMetrics.js"
import { ReaderPools } from "./ReaderPools.js"
import { WriterPool } from "./WriterPool.js"

/**
 * `healthy`; `suspect` after a statement failed on a connection or one probe
 * failed (probed again at once, avoided by new reads, still given writes);
 * `down` after `DB_HEALTH_FAILURE_THRESHOLD` failed probes in a row.
 *
 * @since 0.1.0
 * @category models
 */
export type HealthState = HostState.HealthState

/**
 * What the monitor knows of one host.
 *
 * @since 0.1.0
 * @category models
 */
export interface HostHealth {
  readonly state: HealthState
  /** What the last successful probe saw (`pg_is_in_recovery()`). */
  readonly observedRole: "primary" | "standby" | "unknown"
  /** True when a reader is a primary (promoted) or the writer is a standby. */
  readonly roleMismatch: boolean
  readonly consecutiveFailures: number
  readonly lastProbeLatencyMs: number | undefined
  /** Replicas: WAL bytes behind the writer's last probed position. */
  readonly lagBytes: number | undefined
  /** Replicas: seconds since the last replayed transaction, 0 when caught up. */
  readonly lagSeconds: number | undefined
  /** The WAL position seen by the last probe: the writer's current one, a replica's replayed one. */
  readonly walLsn: bigint | undefined
  readonly lastError: string | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** The current health of a host (`host:port`). Synchronous: the router calls it on every read. */
  readonly health: (host: string) => HostHealth
  /**
   * Passive evidence: a statement that failed because its connection or host
   * failed makes the host suspect and probes it at once. Overload, statement
   * errors and misconfigurations change nothing.
   */
  readonly reportFailure: (pool: HostPool, cause: unknown) => Effect.Effect<void>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class HealthMonitor extends Context.Tag("@pgfleet/postgres/HealthMonitor")<HealthMonitor, Service>() {}

type Mutable<T> = { -readonly [K in keyof T]: T[K] }

/**
 * A WAL position (`X/Y`, as `pg_current_wal_lsn()::text` prints it) as a number of bytes.
 *
 * @example
 * ```ts
 * import { HealthMonitor } from "@pgfleet/postgres"
 *
 * HealthMonitor.parseLsn("0/3000060") // 50331744n
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const parseLsn = (lsn: string): bigint => lsnBytes(lsn)

const destroy = (client: pg.Client | undefined) => {
  // end() waits for the server, which a blackholed host never answers.
  ;(client as unknown as { connection?: { stream?: { destroy(): void } } } | undefined)?.connection?.stream?.destroy()
}

const makeService = (settings: PostgresSettings, writer: HostPool, readers: ReadonlyArray<HostPool>) =>
  Effect.gen(function*() {
    const pools = [writer, ...readers]
    const states = new Map<string, Mutable<HostHealth>>(pools.map((p) => [p.host, {
      state: HostState.initial.state,
      observedRole: p.role === "writer" ? "primary" : "standby",
      roleMismatch: false,
      consecutiveFailures: 0,
      lastProbeLatencyMs: undefined,
      lagBytes: undefined,
      lagSeconds: undefined,
      walLsn: undefined,
      lastError: undefined
    }]))
    const stateOf = (pool: HostPool) => states.get(pool.host)!
    /** Wakes a host's probe fiber early; one pending wake is enough. */
    const wakers = new Map(
      yield* Effect.forEach(pools, (p) => Effect.map(Queue.dropping<void>(1), (q) => [p.host, q] as const))
    )
    const suspectedBy = new Map<string, "probe" | "query">()
    const apply = (pool: HostPool, input: HostState.Input) => {
      const s = stateOf(pool)
      const before = s.state
      const after = HostState.next(s, input, settings.healthFailureThreshold)
      s.state = after.state
      s.consecutiveFailures = after.consecutiveFailures
      return before
    }
    const tags = (pool: HostPool) => <T extends Metric.Metric<any, any, any>>(m: T): T =>
      Metric.tagged(Metric.tagged(m, "host", pool.host), "role", pool.role) as T

    const markDown = (pool: HostPool, error: string) =>
      Effect.gen(function*() {
        const detectedBy = suspectedBy.get(pool.host) ?? "probe"
        // Reads stuck on a host that stopped answering would wait forever: fail them over now.
        if (pool.role === "reader") pool.dropCheckedOut()
        yield* Metric.increment(Metric.tagged(tags(pool)(PostgresMetrics.hostDown), "detected_by", detectedBy))
        yield* Metric.set(tags(pool)(PostgresMetrics.hostUp), 0)
        yield* Effect.logWarning(`pgfleet: ${pool.role} ${pool.host} is down`).pipe(
          Effect.annotateLogs({ host: pool.host, role: pool.role, detectedBy, error })
        )
      })

    const recordSuccess = (pool: HostPool, row: ProbeRow, latencyMs: number) =>
      Effect.gen(function*() {
        const s = stateOf(pool)
        const t = tags(pool)
        const before = apply(pool, "probe-ok")
        const wasDown = before === "down"
        suspectedBy.delete(pool.host)
        const mismatch = row.standby !== (pool.role === "reader")
        s.lastProbeLatencyMs = latencyMs
        s.lastError = undefined
        s.observedRole = row.standby ? "standby" : "primary"
        s.walLsn = row.lsn === null ? undefined : parseLsn(row.lsn)
        if (pool.role === "reader") {
          const writerLsn = stateOf(writer).walLsn
          s.lagBytes = writerLsn !== undefined && s.walLsn !== undefined
            ? Math.max(0, Number(writerLsn - s.walLsn))
            : undefined
          // Caught up with the writer's last probed position: no replay delay, whatever the last replay time says.
          s.lagSeconds = s.lagBytes === 0 ? 0 : row.lag_seconds
          if (s.lagBytes !== undefined) yield* Metric.set(t(PostgresMetrics.replicaLagBytes), s.lagBytes)
          yield* Metric.set(t(PostgresMetrics.replicaLagSeconds), s.lagSeconds)
        }
        if (mismatch !== s.roleMismatch) {
          s.roleMismatch = mismatch
          yield* mismatch
            ? Effect.logWarning(`pgfleet: role change: ${pool.role} ${pool.host} is now a ${s.observedRole}`).pipe(
              Effect.annotateLogs({ host: pool.host, role: pool.role, observedRole: s.observedRole })
            )
            : Effect.logInfo(`pgfleet: ${pool.host} is back in its ${pool.role} role`)
        }
        if (before === "suspect") yield* Effect.logDebug(`pgfleet: ${pool.role} ${pool.host} answered its probe`)
        if (wasDown) {
          yield* Effect.logInfo(`pgfleet: ${pool.role} ${pool.host} is healthy again`).pipe(
            Effect.annotateLogs({ host: pool.host, role: pool.role })
          )
        }
        yield* Metric.set(t(PostgresMetrics.hostUp), mismatch ? 0 : 1)
        yield* Metric.update(t(PostgresMetrics.probeLatency), latencyMs)
      })

    const recordFailure = (pool: HostPool, error: unknown) =>
      Effect.gen(function*() {
        const s = stateOf(pool)
        s.lastError = describe(error)
        if (!suspectedBy.has(pool.host)) suspectedBy.set(pool.host, "probe")
        const before = apply(pool, "probe-failed")
        if (before !== "down" && s.state === "down") yield* markDown(pool, s.lastError)
      })

    const reportFailure = (pool: HostPool, cause: unknown): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (!isHostEvidence(classify(cause).kind)) return Effect.void
        const s = stateOf(pool)
        const before = apply(pool, "passive-failure")
        wakers.get(pool.host)!.unsafeOffer(undefined)
        if (before !== "healthy") return Effect.void
        s.lastError = describe(cause)
        suspectedBy.set(pool.host, "query")
        return Effect.logInfo(`pgfleet: ${pool.role} ${pool.host} is suspect, probing it now`).pipe(
          Effect.annotateLogs({ host: pool.host, role: pool.role, error: s.lastError })
        )
      })

    const recordPoolCounts = (pool: HostPool) =>
      Effect.gen(function*() {
        const counts = pool.counts()
        const gauge = tags(pool)(PostgresMetrics.poolConnections)
        yield* Metric.set(Metric.tagged(gauge, "state", "idle"), counts.idle)
        yield* Metric.set(Metric.tagged(gauge, "state", "in_use"), counts.inUse)
        yield* Metric.set(Metric.tagged(gauge, "state", "waiting"), counts.waiting)
      })

    /** One probe on a dedicated connection, kept open between probes and replaced after a failure. */
    const prober = (pool: HostPool) => {
      let client: pg.Client | undefined
      const reset = Effect.sync(() => {
        destroy(client)
        client = undefined
      })
      const probe = Effect.tryPromise(async () => {
        if (client === undefined) {
          const fresh = pool.newClient()
          fresh.on("error", () => {})
          client = fresh
          await fresh.connect()
        }
        const { rows } = await client.query<ProbeRow>(PROBE_SQL)
        return rows[0]!
      }).pipe(
        Effect.timeoutFail({
          duration: settings.healthCheckTimeout,
          onTimeout: () => new Error(`probe timed out after ${Duration.format(settings.healthCheckTimeout)}`)
        }),
        Effect.tapError(() => reset)
      )
      return { probe, reset }
    }

    const nextDelay = (pool: HostPool) =>
      Duration.millis(
        HostState.probeDelayMillis(
          stateOf(pool),
          Duration.toMillis(settings.healthCheckInterval),
          Duration.toMillis(settings.retryBase)
        )
      )

    const monitor = (pool: HostPool) =>
      Effect.gen(function*() {
        const { probe, reset } = prober(pool)
        yield* Effect.addFinalizer(() => reset)
        yield* Metric.set(tags(pool)(PostgresMetrics.poolWarmup), Duration.toMillis(pool.warmupTime))
        const wake = wakers.get(pool.host)!
        while (true) {
          // The delay is read after each probe, so a failure reported meanwhile wakes the fiber at once.
          yield* Effect.raceFirst(Effect.sleep(nextDelay(pool)), Queue.take(wake))
          yield* Queue.takeAll(wake)
          // A host in doubt is asked on a fresh connection, as a new statement would connect.
          if (stateOf(pool).state !== "healthy") yield* reset
          const started = performance.now()
          const result = yield* Effect.either(probe)
          yield* result._tag === "Right"
            ? recordSuccess(pool, result.right, performance.now() - started)
            : recordFailure(pool, result.left)
          yield* recordPoolCounts(pool)
        }
      })

    for (const pool of pools) yield* Effect.forkScoped(monitor(pool))

    return {
      health: (host) => states.get(host)!,
      reportFailure
    } satisfies Service
  })

/**
 * Starts one probe fiber per host (every `DB_HEALTH_CHECK_INTERVAL_MS`, each
 * within `DB_HEALTH_CHECK_TIMEOUT_MS`); a host is suspect after one failed
 * probe or a failed statement (and probed again at once), down after
 * `DB_HEALTH_FAILURE_THRESHOLD` failed probes, and healthy again after one
 * success. The fibers stop when the layer is released.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { HealthMonitor } from "@pgfleet/postgres"
 *
 * const writerIsUp = (host: string) =>
 *   Effect.map(HealthMonitor.HealthMonitor, (m) => m.health(host).state === "healthy")
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<HealthMonitor, never, PostgresConfig | WriterPool | ReaderPools> = Layer.scoped(
  HealthMonitor,
  Effect.gen(function*() {
    return yield* makeService(yield* PostgresConfig, yield* WriterPool, yield* ReaderPools)
  })
)
