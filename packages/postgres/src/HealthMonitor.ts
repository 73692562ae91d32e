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
import type * as Scope from "effect/Scope"
import pg from "pg"
import type { HostPool } from "./HostPool.js"
import { classify, describe, isHostEvidence } from "./internal/failures.js"
import * as HostState from "./internal/hostState.js"
import { clientConfig, destroySocket } from "./internal/pgOptions.js"
import { lsnBytes, PROBE_SQL } from "./internal/probe.js"
import type { ProbeRow } from "./internal/probe.js"
import { PostgresConfig } from "./PostgresConfig.js"
import type { HostAddress, PostgresSettings } from "./PostgresConfig.js"
import { hostLabel } from "./PostgresConfig.js"
import * as PostgresMetrics from "./PostgresMetrics.js"
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
 * import { HealthMonitor, PostgresConfig } from "@pgfleet/postgres"
 *
 * const bound = PostgresConfig.make({ writerHosts: ["db"], username: "app", password: "secret" }).pipe(
 *   Effect.map((settings) => Duration.format(HealthMonitor.detectionTime(settings)))
 * ) // "3s 100ms" with the defaults
 * ```
 *
 * @since 0.2.0
 * @category utils
 */
export const detectionTime = (settings: PostgresSettings): Duration.Duration => {
  const interval = Duration.toMillis(settings.healthCheckInterval)
  let ms = interval + settings.healthFailureThreshold * Duration.toMillis(settings.healthCheckTimeout)
  for (let failures = 1; failures < settings.healthFailureThreshold; failures++) {
    ms += HostState.probeDelayMillis(
      { state: "suspect", consecutiveFailures: failures },
      interval,
      Duration.toMillis(settings.retryBase)
    )
  }
  return Duration.millis(ms)
}

/** One probed host: a reader, a writer candidate, or both. */
interface Member {
  readonly host: string
  readonly address: HostAddress
  /** The reader's pool, when the host is listed in `DB_READER_HOSTS`. */
  readonly reader: HostPool | undefined
  readonly candidate: boolean
}

const membersOf = (settings: PostgresSettings, readers: ReadonlyArray<HostPool>): ReadonlyArray<Member> => {
  const members = new Map<string, Member>()
  for (const address of settings.writers) {
    members.set(hostLabel(address), { host: hostLabel(address), address, reader: undefined, candidate: true })
  }
  for (const pool of readers) {
    const known = members.get(pool.host)
    members.set(pool.host, { host: pool.host, address: pool.address, reader: pool, candidate: known !== undefined })
  }
  return [...members.values()]
}

const makeService = (settings: PostgresSettings, writer: WriterPool.Service, readers: ReadonlyArray<HostPool>) =>
  Effect.gen(function*() {
    const members = membersOf(settings, readers)
    const byHost = new Map(members.map((m) => [m.host, m]))
    const states = new Map<string, Mutable<HostHealth>>(members.map((m) => [m.host, {
      state: HostState.initial.state,
      observedRole: m.host === writer.host ? "primary" : m.reader ? "standby" : "unknown",
      roleMismatch: false,
      consecutiveFailures: 0,
      lastProbeLatencyMs: undefined,
      lagBytes: undefined,
      lagSeconds: undefined,
      walLsn: undefined,
      lastError: undefined
    }]))
    const stateOf = (m: Member) => states.get(m.host)!
    const isWriter = (m: Member) => m.host === writer.host
    const roleOf = (m: Member): "writer" | "reader" | "candidate" =>
      isWriter(m) ? "writer" : m.reader !== undefined ? "reader" : "candidate"
    /** A reader must be a standby; the current writer a primary; other candidates may be either. */
    const mismatchOf = (m: Member, observed: HostHealth["observedRole"]) =>
      m.reader !== undefined ? observed === "primary" : isWriter(m) && observed === "standby"
    /** Wakes a host's probe fiber early; one pending wake is enough. */
    const wakers = new Map(
      yield* Effect.forEach(members, (m) => Effect.map(Queue.dropping<void>(1), (q) => [m.host, q] as const))
    )
    const suspectedBy = new Map<string, "probe" | "query">()
    const apply = (m: Member, input: HostState.Input) => {
      const s = stateOf(m)
      const before = s.state
      const after = HostState.next(s, input, settings.healthFailureThreshold)
      s.state = after.state
      s.consecutiveFailures = after.consecutiveFailures
      return before
    }
    const tags = (m: Member) => <T extends Metric.Metric<any, any, any>>(metric: T): T =>
      Metric.tagged(Metric.tagged(metric, "host", m.host), "role", roleOf(m)) as T

    /** Since when the writer has been down or a standby. */
    let writerTroubleSince: number | undefined
    let splitBrain: ReadonlyArray<string> | undefined
    let switching = false
    const candidates = members.filter((m) => m.candidate)
    /** Answered its last probe as a primary. */
    const answersPrimary = (m: Member) => {
      const s = stateOf(m)
      return s.state !== "down" && s.consecutiveFailures === 0 && s.observedRole === "primary"
    }

    /**
     * After every probe of a candidate: refuse writes while two candidates are
     * primaries; move writes when the writer is in trouble and exactly one
     * other candidate is a primary.
     */
    const elect: Effect.Effect<void, never, Scope.Scope> = Effect.suspend(() => {
      if (candidates.length < 2) return Effect.void
      const primaries = candidates.filter(answersPrimary)
      const split = primaries.length > 1 ? primaries.map((m) => m.host) : undefined
      const announce = split !== undefined && split.join() !== splitBrain?.join()
        ? Effect.logError(`pgfleet: split brain: ${split.join(" and ")} both answer as primary; writes are refused`)
          .pipe(Effect.annotateLogs({ primaries: split.join(",") }))
        : Effect.void
      splitBrain = split
      const current = stateOf(byHost.get(writer.host)!)
      const troubled = current.state === "down" ||
        (current.consecutiveFailures === 0 && current.observedRole === "standby")
      if (troubled) writerTroubleSince ??= Date.now()
      else writerTroubleSince = undefined
      const target = primaries.length === 1 && !isWriter(primaries[0]!) ? primaries[0]! : undefined
      if (!troubled || target === undefined || switching) return announce
      switching = true
      const from = writer.host
      return Effect.zipRight(
        announce,
        Effect.forkScoped(
          writer.switchTo(target.address).pipe(
            Effect.zipRight(Effect.suspend(() => {
              const tookMs = Date.now() - (writerTroubleSince ?? Date.now())
              writerTroubleSince = undefined
              for (const m of members) stateOf(m).roleMismatch = mismatchOf(m, stateOf(m).observedRole)
              return Effect.zipRight(
                Metric.increment(PostgresMetrics.writerChanges),
                Effect.logWarning(`pgfleet: writer moved from ${from} to ${target.host} after ${tookMs} ms`).pipe(
                  Effect.annotateLogs({ from, to: target.host, ms: tookMs })
                )
              )
            })),
            Effect.catchAll((error) =>
              Effect.logWarning(`pgfleet: could not move writes to ${target.host}; will try again`).pipe(
                Effect.annotateLogs({ error: error.message })
              )
            ),
            Effect.ensuring(Effect.sync(() => (switching = false)))
          )
        )
      )
    })

    const markDown = (m: Member, error: string) =>
      Effect.gen(function*() {
        const detectedBy = suspectedBy.get(m.host) ?? "probe"
        // Whatever runs on a host that stopped answering would wait until the socket fails (minutes): end it
        // now. Reads are retried elsewhere, writes fail as OutcomeUnknown, waiters as never sent.
        m.reader?.abandon()
        if (m.candidate) writer.abandonHost(m.host)
        yield* Metric.increment(Metric.tagged(tags(m)(PostgresMetrics.hostDown), "detected_by", detectedBy))
        yield* Metric.set(tags(m)(PostgresMetrics.hostUp), 0)
        yield* Effect.logWarning(`pgfleet: ${roleOf(m)} ${m.host} is down`).pipe(
          Effect.annotateLogs({ host: m.host, role: roleOf(m), detectedBy, error })
        )
      })

    const recordSuccess = (m: Member, row: ProbeRow, latencyMs: number) =>
      Effect.gen(function*() {
        const s = stateOf(m)
        const t = tags(m)
        const before = apply(m, "probe-ok")
        const wasDown = before === "down"
        suspectedBy.delete(m.host)
        s.lastProbeLatencyMs = latencyMs
        s.lastError = undefined
        s.observedRole = row.standby ? "standby" : "primary"
        const mismatch = mismatchOf(m, s.observedRole)
        s.walLsn = row.lsn === null ? undefined : parseLsn(row.lsn)
        if (row.standby) {
          const writerState = states.get(writer.host)
          const writerLsn = writerState?.walLsn
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
            ? Effect.logWarning(`pgfleet: role change: ${roleOf(m)} ${m.host} is now a ${s.observedRole}`).pipe(
              Effect.annotateLogs({ host: m.host, role: roleOf(m), observedRole: s.observedRole })
            )
            : Effect.logInfo(`pgfleet: ${m.host} is back in its ${roleOf(m)} role`)
          // A writer name that now points at a standby (a DNS or VIP flip): new connections must resolve it again.
          if (mismatch && isWriter(m)) writer.recycle()
        }
        if (before === "suspect") yield* Effect.logDebug(`pgfleet: ${roleOf(m)} ${m.host} answered its probe`)
        if (wasDown) {
          if (isWriter(m)) writer.recycle()
          yield* Effect.logInfo(`pgfleet: ${roleOf(m)} ${m.host} is healthy again`).pipe(
            Effect.annotateLogs({ host: m.host, role: roleOf(m) })
          )
        }
        yield* Metric.set(t(PostgresMetrics.hostUp), mismatch ? 0 : 1)
        yield* Metric.update(t(PostgresMetrics.probeLatency), latencyMs)
      })

    const recordFailure = (m: Member, error: unknown) =>
      Effect.gen(function*() {
        const s = stateOf(m)
        s.lastError = describe(error)
        if (!suspectedBy.has(m.host)) suspectedBy.set(m.host, "probe")
        const before = apply(m, "probe-failed")
        if (before !== "down" && s.state === "down") yield* markDown(m, s.lastError)
      })

    const reportFailure = (pool: HostPool, cause: unknown): Effect.Effect<void> =>
      Effect.suspend(() => {
        const m = byHost.get(pool.host)
        if (m === undefined) return Effect.void
        const failure = classify(cause)
        // A write refused as read-only: ask the writer's role now. The probe decides (25006 may also
        // come from a transaction the caller made read-only itself).
        if (failure.code === "25006" && isWriter(m)) {
          wakers.get(m.host)!.unsafeOffer(undefined)
          return Effect.void
        }
        if (!isHostEvidence(failure.kind)) return Effect.void
        const s = stateOf(m)
        const before = apply(m, "passive-failure")
        wakers.get(m.host)!.unsafeOffer(undefined)
        if (before !== "healthy") return Effect.void
        s.lastError = describe(cause)
        suspectedBy.set(m.host, "query")
        return Effect.logInfo(`pgfleet: ${roleOf(m)} ${m.host} is suspect, probing it now`).pipe(
          Effect.annotateLogs({ host: m.host, role: roleOf(m), error: s.lastError })
        )
      })

    const recordPoolCounts = (m: Member) =>
      Effect.gen(function*() {
        const pool = isWriter(m) ? writer : m.reader
        if (pool === undefined) return
        const counts = pool.counts()
        const gauge = tags(m)(PostgresMetrics.poolConnections)
        yield* Metric.set(Metric.tagged(gauge, "state", "idle"), counts.idle)
        yield* Metric.set(Metric.tagged(gauge, "state", "in_use"), counts.inUse)
        yield* Metric.set(Metric.tagged(gauge, "state", "waiting"), counts.waiting)
      })

    /** One probe on a dedicated connection, kept open between probes and replaced after a failure. */
    const prober = (m: Member) => {
      let client: pg.Client | undefined
      const reset = Effect.sync(() => {
        destroySocket(client)
        client = undefined
      })
      const probe = Effect.tryPromise(async () => {
        if (client === undefined) {
          const fresh = new pg.Client(clientConfig(settings, m.address))
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

    const nextDelay = (m: Member) =>
      Duration.millis(
        HostState.probeDelayMillis(
          stateOf(m),
          Duration.toMillis(settings.healthCheckInterval),
          Duration.toMillis(settings.retryBase)
        )
      )

    const monitor = (m: Member) =>
      Effect.gen(function*() {
        const { probe, reset } = prober(m)
        yield* Effect.addFinalizer(() => reset)
        const pool = isWriter(m) ? writer : m.reader
        if (pool !== undefined) {
          yield* Metric.set(tags(m)(PostgresMetrics.poolWarmup), Duration.toMillis(pool.warmupTime))
        }
        const wake = wakers.get(m.host)!
        while (true) {
          // The delay is read after each probe, so a failure reported meanwhile wakes the fiber at once.
          yield* Effect.raceFirst(Effect.sleep(nextDelay(m)), Queue.take(wake))
          yield* Queue.takeAll(wake)
          // A host in doubt is asked on a fresh connection, as a new statement would connect.
          if (stateOf(m).state !== "healthy") yield* reset
          const started = performance.now()
          const result = yield* Effect.either(probe)
          yield* result._tag === "Right"
            ? recordSuccess(m, result.right, performance.now() - started)
            : recordFailure(m, result.left)
          yield* recordPoolCounts(m)
          if (m.candidate) yield* elect
        }
      })

    for (const m of members) yield* Effect.forkScoped(monitor(m))

    return {
      health: (host) => states.get(host)!,
      reportFailure,
      splitBrain: () => splitBrain,
      candidates: () => candidates.map((m) => m.host)
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
export const layer: Layer.Layer<HealthMonitor, never, PostgresConfig | WriterPool.WriterPool | ReaderPools> = Layer
  .scoped(
    HealthMonitor,
    Effect.gen(function*() {
      return yield* makeService(yield* PostgresConfig, yield* WriterPool.WriterPool, yield* ReaderPools)
    })
  )
