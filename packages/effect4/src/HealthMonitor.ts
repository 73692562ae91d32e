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
import { HostState, Probe } from "@pgfleet/core"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { HostPool } from "./HostPool.js"
import * as Elector from "./internal/healthMonitor/election.js"
import * as Evidence from "./internal/healthMonitor/evidence.js"
import * as Members from "./internal/healthMonitor/members.js"
import * as ProbeLoop from "./internal/healthMonitor/probeLoop.js"
import { PostgresConfig } from "./PostgresConfig.js"
import type { PostgresSettings } from "./PostgresConfig.js"
import { ReaderPools } from "./ReaderPools.js"
import * as WriterPool from "./WriterPool.js"

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
  /** The writer candidates that answer as primaries while there is more than one; writes are refused then. */
  readonly splitBrain: () => ReadonlyArray<string> | undefined
  /** Every writer candidate, `host:port`, in `DB_WRITER_HOST` order. */
  readonly candidates: () => ReadonlyArray<string>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class HealthMonitor extends Context.Service<HealthMonitor, Service>()("@pgfleet/effect4/HealthMonitor") {}

/**
 * A WAL position (`X/Y`, as `pg_current_wal_lsn()::text` prints it) as a number of bytes.
 *
 * @example
 * ```ts
 * import { HealthMonitor } from "@pgfleet/effect4"
 *
 * HealthMonitor.parseLsn("0/3000060") // 50331744n
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const parseLsn = (lsn: string): bigint => Probe.lsnBytes(lsn)

/**
 * The longest a host that stops answering (a partition, a frozen server)
 * can go unnoticed, and so the longest a statement on it can wait: one
 * interval until the next probe, then `DB_HEALTH_FAILURE_THRESHOLD` probes
 * that each time out, with the re-probe backoff between them.
 *
 * interval + threshold × timeout + Σ min(interval, retryBase × 2^(k−1)), k = 1 … threshold − 1
 *
 * With the defaults: 1 s + 2 × 1 s + 0.1 s = 3.1 s. When the monitor marks
 * the host down, every statement still running on it ends at once.
 *
 * @example
 * ```ts
 * import { Duration, Effect } from "effect"
 * import { HealthMonitor, PostgresConfig } from "@pgfleet/effect4"
 *
 * const bound = PostgresConfig.make({ writerHosts: ["db"], username: "app", password: "secret" }).pipe(
 *   Effect.map((settings) => Duration.format(HealthMonitor.detectionTime(settings)))
 * ) // "3s 100ms" with the defaults
 * ```
 *
 * @since 0.2.0
 * @category utils
 */
export const detectionTime = (settings: PostgresSettings): Duration.Duration =>
  Duration.millis(HostState.detectionMillis({
    intervalMs: Duration.toMillis(settings.healthCheckInterval),
    timeoutMs: Duration.toMillis(settings.healthCheckTimeout),
    threshold: settings.healthFailureThreshold,
    retryBaseMs: Duration.toMillis(settings.retryBase)
  }))

/** Wires the parts together: the member table, one probe fiber per member, the election and passive evidence. */
const makeService = (settings: PostgresSettings, writer: WriterPool.Service, readers: ReadonlyArray<HostPool>) =>
  Effect.gen(function*() {
    const members = Members.make(settings, writer, readers)
    const wakers = yield* ProbeLoop.makeWakers(members)
    const elector = Elector.make(members, writer)
    const deps: ProbeLoop.Deps = { settings, writer, members, wakers, elect: elector.elect }
    for (const m of members.all) yield* Effect.forkScoped(ProbeLoop.monitor(deps, m))

    return {
      // The monitor's own record, handed out read-only.
      health: (host): HostHealth => members.healthOf(host)!,
      reportFailure: Evidence.reportFailure(members, wakers.wake),
      splitBrain: elector.splitBrain,
      candidates: () => members.candidates.map((m) => m.host)
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
 * import { HealthMonitor } from "@pgfleet/effect4"
 *
 * const writerIsUp = (host: string) =>
 *   Effect.map(HealthMonitor.HealthMonitor, (m) => m.health(host).state === "healthy")
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<HealthMonitor, never, PostgresConfig | WriterPool.WriterPool | ReaderPools> = Layer
  .effect(
    HealthMonitor,
    Effect.gen(function*() {
      return yield* makeService(yield* PostgresConfig, yield* WriterPool.WriterPool, yield* ReaderPools)
    })
  )
