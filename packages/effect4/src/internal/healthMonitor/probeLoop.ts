/**
 * One fiber per host: wait the delay its state asks for (or a wake from
 * passive evidence), probe, record the answer, then let the election look.
 * Only failed probes mark a host down, and a host that goes down has
 * everything still running on it ended at once.
 */
import { Connection, Credentials, Failure, HostState, Probe } from "@pgfleet/core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import pg from "pg"
import type { PostgresSettings } from "../../PostgresConfig.js"
import type * as WriterPool from "../../WriterPool.js"
import { clientConfig, connectionOptions } from "../postgresConfig.js"
import type { Member, Members } from "./members.js"
import * as Metrics from "./metrics.js"

/** Wakes a host's probe fiber early; one pending wake is enough. */
export interface Wakers {
  readonly wake: (m: Member) => void
  readonly queue: (m: Member) => Queue.Queue<void>
}

export const makeWakers = (members: Members): Effect.Effect<Wakers> =>
  Effect.map(
    Effect.forEach(members.all, (m) => Effect.map(Queue.dropping<void>(1), (q) => [m.host, q] as const)),
    (entries) => {
      const queues = new Map(entries)
      return {
        wake: (m) => {
          Queue.offerUnsafe(queues.get(m.host)!, undefined)
        },
        queue: (m) => queues.get(m.host)!
      }
    }
  )

/** What every probe fiber shares. */
export interface Deps {
  readonly settings: PostgresSettings
  readonly writer: WriterPool.Service
  readonly members: Members
  readonly wakers: Wakers
  /** Runs after each probe of a writer candidate. */
  readonly elect: Effect.Effect<void, never, Scope.Scope>
}

/** One probe on a dedicated connection, kept open between probes and replaced after a failure. */
export const prober = (settings: PostgresSettings, m: Member) => {
  let client: pg.Client | undefined
  const reset = Effect.sync(() => {
    Connection.destroySocket(client)
    client = undefined
  })
  const probe = Effect.tryPromise(async () => {
    if (client === undefined) {
      // A refused login asks a changing password's source again before the probe counts as failed.
      await Credentials.retryRefused(connectionOptions(settings).credentials, async () => {
        Connection.destroySocket(client)
        const fresh = new pg.Client(clientConfig(settings, m.address))
        fresh.on("error", () => {})
        client = fresh
        await fresh.connect()
      })
    }
    const { rows } = await client!.query<Probe.ProbeRow>(Probe.PROBE_SQL)
    return rows[0]!
  }).pipe(
    Effect.timeoutOrElse({
      duration: settings.healthCheckTimeout,
      orElse: () => Effect.fail(new Error(`probe timed out after ${Duration.format(settings.healthCheckTimeout)}`))
    }),
    Effect.tapError(() => reset)
  )
  return { probe, reset }
}

const markDown = (deps: Deps, m: Member, error: string) =>
  Effect.gen(function*() {
    const { members } = deps
    const detectedBy = members.suspectedBy.get(m.host) ?? "probe"
    // Whatever runs on a host that stopped answering would wait until the socket fails (minutes): end it
    // now. Reads are retried elsewhere, writes fail as OutcomeUnknown, waiters as never sent.
    m.reader?.abandon()
    if (m.candidate) deps.writer.abandonHost(m.host)
    yield* Metrics.down(members, m, detectedBy)
    yield* Effect.logWarning(`pgfleet: ${members.roleOf(m)} ${m.host} is down`).pipe(
      Effect.annotateLogs({ host: m.host, role: members.roleOf(m), detectedBy, error })
    )
  })

const recordFailure = (deps: Deps, m: Member, error: unknown) =>
  Effect.suspend(() => {
    const { members } = deps
    const s = members.health(m)
    s.lastError = Failure.describe(error)
    if (!members.suspectedBy.has(m.host)) members.suspectedBy.set(m.host, "probe")
    const before = members.apply(m, "probe-failed")
    return before !== "down" && s.state === "down" ? markDown(deps, m, s.lastError) : Effect.void
  })

/** Logs a change of role (after the fields it reports are set). */
const noteRole = (deps: Deps, m: Member, mismatch: boolean) =>
  Effect.gen(function*() {
    const { members } = deps
    const s = members.health(m)
    if (mismatch === s.roleMismatch) return
    s.roleMismatch = mismatch
    yield* mismatch
      ? Effect.logWarning(`pgfleet: role change: ${members.roleOf(m)} ${m.host} is now a ${s.observedRole}`).pipe(
        Effect.annotateLogs({ host: m.host, role: members.roleOf(m), observedRole: s.observedRole })
      )
      : Effect.logInfo(`pgfleet: ${m.host} is back in its ${members.roleOf(m)} role`)
    // A writer name that now points at a standby (a DNS or VIP flip): new connections must resolve it again.
    if (mismatch && members.isWriter(m)) deps.writer.recycle()
  })

const recordSuccess = (deps: Deps, m: Member, row: Probe.ProbeRow, latencyMs: number) =>
  Effect.gen(function*() {
    const { members, writer } = deps
    const s = members.health(m)
    const before = members.apply(m, "probe-ok")
    members.suspectedBy.delete(m.host)
    s.lastProbeLatencyMs = latencyMs
    s.lastError = undefined
    // A replica is measured against the writer's last probed position; the writer against this answer.
    const writerLsn = members.isWriter(m) ? Probe.read(row, undefined).walLsn : members.healthOf(writer.host)?.walLsn
    const answer = Probe.read(row, writerLsn)
    s.observedRole = answer.role
    const mismatch = members.mismatch(m, s.observedRole)
    s.walLsn = answer.walLsn
    if (answer.role === "standby") {
      s.lagBytes = answer.lagBytes
      s.lagSeconds = answer.lagSeconds
      yield* Metrics.lag(members, m, answer.lagBytes, answer.lagSeconds)
    }
    yield* noteRole(deps, m, mismatch)
    if (before === "suspect") yield* Effect.logDebug(`pgfleet: ${members.roleOf(m)} ${m.host} answered its probe`)
    if (before === "down") {
      if (members.isWriter(m)) writer.recycle()
      yield* Effect.logInfo(`pgfleet: ${members.roleOf(m)} ${m.host} is healthy again`).pipe(
        Effect.annotateLogs({ host: m.host, role: members.roleOf(m) })
      )
    }
    yield* Metrics.answered(members, m, members.upInRole(m), latencyMs)
  })

const nextDelay = (deps: Deps, m: Member) =>
  Duration.millis(
    HostState.probeDelayMillis(
      deps.members.health(m),
      Duration.toMillis(deps.settings.healthCheckInterval),
      Duration.toMillis(deps.settings.retryBase)
    )
  )

/** The member's probe fiber; runs until its scope closes. */
export const monitor = (deps: Deps, m: Member): Effect.Effect<never, never, Scope.Scope> =>
  Effect.gen(function*() {
    const { probe, reset } = prober(deps.settings, m)
    yield* Effect.addFinalizer(() => reset)
    yield* Metrics.warmup(deps.members, m)
    const wake = deps.wakers.queue(m)
    while (true) {
      // The delay is read after each probe, so a failure reported meanwhile wakes the fiber at once.
      yield* Effect.raceFirst(Effect.sleep(nextDelay(deps, m)), Queue.take(wake))
      yield* Queue.clear(wake)
      // A host in doubt is asked on a fresh connection, as a new statement would connect.
      if (deps.members.health(m).state !== "healthy") yield* reset
      const started = performance.now()
      const result = yield* Effect.result(probe)
      yield* result._tag === "Success"
        ? recordSuccess(deps, m, result.success, performance.now() - started)
        : recordFailure(deps, m, result.failure)
      yield* Metrics.poolCounts(deps.members, m)
      if (m.candidate) yield* deps.elect
    }
  })
