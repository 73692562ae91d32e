/**
 * The health monitor's metrics, each tagged with the fleet's name, the
 * member's host and its role at the time of the update (a candidate's role
 * changes with the writer).
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as MetricLabel from "effect/MetricLabel"
import * as PostgresMetrics from "../../PostgresMetrics.js"
import type { DetectedBy, Member, Members } from "./members.js"

const tagsAs = (members: Members, m: Member, role: string) => <T extends Metric.Metric<any, any, any>>(metric: T): T =>
  Metric.taggedWithLabels(metric, [
    MetricLabel.make("fleet", members.fleet),
    MetricLabel.make("host", m.host),
    MetricLabel.make("role", role)
  ]) as T

const tags = (members: Members, m: Member) => tagsAs(members, m, members.roleOf(m))

/** `pgfleet_host_up` for the host in its role now; the series of a role it left goes to 0 (`Members.upSeries`). */
const setUp = (members: Members, m: Member, value: number): Effect.Effect<void> =>
  Effect.suspend(() => {
    const { left, role } = members.upSeries(m)
    const now = Metric.set(tagsAs(members, m, role)(PostgresMetrics.hostUp), value)
    return left === undefined
      ? now
      : Effect.zipRight(Metric.set(tagsAs(members, m, left)(PostgresMetrics.hostUp), 0), now)
  })

/** The host went down: counted by what noticed it first, and no longer up. */
export const down = (members: Members, m: Member, detectedBy: DetectedBy): Effect.Effect<void> =>
  Effect.zipRight(
    Metric.increment(Metric.tagged(tags(members, m)(PostgresMetrics.hostDown), "detected_by", detectedBy)),
    setUp(members, m, 0)
  )

/** A replica's lag behind the writer; the bytes only once the writer's position is known. */
export const lag = (
  members: Members,
  m: Member,
  lagBytes: number | undefined,
  lagSeconds: number | undefined
): Effect.Effect<void> =>
  Effect.gen(function*() {
    if (lagBytes !== undefined) yield* Metric.set(tags(members, m)(PostgresMetrics.replicaLagBytes), lagBytes)
    if (lagSeconds !== undefined) yield* Metric.set(tags(members, m)(PostgresMetrics.replicaLagSeconds), lagSeconds)
  })

/** A probe answered: up only when the host is in its role. */
export const answered = (members: Members, m: Member, inRole: boolean, latencyMs: number): Effect.Effect<void> =>
  Effect.zipRight(
    setUp(members, m, inRole ? 1 : 0),
    Metric.update(tags(members, m)(PostgresMetrics.probeLatency), latencyMs)
  )

/** The connections of the pool that serves the member now, under OpenTelemetry's names. */
export const poolCounts = (members: Members, m: Member): Effect.Effect<void> =>
  Effect.suspend(() => {
    const pool = members.poolOf(m)
    if (pool === undefined) return Effect.void
    const counts = pool.counts()
    const poolName = PostgresMetrics.poolName(members.fleet, pool.role, pool.host)
    const name = <T extends Metric.Metric<any, any, any>>(metric: T): T =>
      Metric.tagged(metric, "db.client.connection.pool.name", poolName) as T
    const count = name(PostgresMetrics.connectionCount)
    return Effect.all([
      Metric.set(Metric.tagged(count, "db.client.connection.state", "idle"), counts.idle),
      Metric.set(Metric.tagged(count, "db.client.connection.state", "used"), counts.inUse),
      Metric.set(name(PostgresMetrics.connectionPendingRequests), counts.waiting),
      Metric.set(name(PostgresMetrics.connectionMax), pool.pgPool.options.max ?? 10),
      Metric.set(name(PostgresMetrics.connectionIdleMin), pool.pgPool.options.min ?? 0)
    ], { discard: true })
  })

/**
 * Once when the member's probe fiber starts: how long its pool took to open
 * and warm, and its counters at zero, so a rate over them exists before the
 * first event (alerts on "went down" need the series).
 */
export const warmup = (members: Members, m: Member): Effect.Effect<void> =>
  Effect.suspend(() => {
    const pool = members.poolOf(m)
    const down = tags(members, m)(PostgresMetrics.hostDown)
    return Effect.all([
      pool === undefined
        ? Effect.void
        : Metric.set(tags(members, m)(PostgresMetrics.poolWarmup), Duration.toMillis(pool.warmupTime)),
      Metric.incrementBy(Metric.tagged(down, "detected_by", "probe"), 0),
      Metric.incrementBy(Metric.tagged(down, "detected_by", "query"), 0),
      Metric.incrementBy(Metric.tagged(PostgresMetrics.writerChanges, "fleet", members.fleet), 0),
      Metric.incrementBy(PostgresMetrics.readRetriesFrom(m.host, members.fleet), 0),
      pool === undefined ? Effect.void : Metric.incrementBy(
        PostgresMetrics.poolMetrics(PostgresMetrics.poolName(members.fleet, pool.role, pool.host)).timeouts,
        0
      )
    ], { discard: true })
  })

/** Writes moved to another candidate. */
export const writerChanged = (members: Members): Effect.Effect<void> =>
  Metric.increment(Metric.tagged(PostgresMetrics.writerChanges, "fleet", members.fleet))
