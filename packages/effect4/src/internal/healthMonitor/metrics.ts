/**
 * The health monitor's metrics, each with the fleet's name, the member's
 * host and its role at the time of the update (a candidate's role changes
 * with the writer); the pool gauges under OpenTelemetry's names.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as PostgresMetrics from "../../PostgresMetrics.js"
import type { DetectedBy, Member, Members } from "./members.js"

const tags = (members: Members, m: Member, more?: Record<string, string>) => ({
  fleet: members.fleet,
  host: m.host,
  role: members.roleOf(m),
  ...more
})

const set = (gauge: Metric.Gauge<number>, attributes: Record<string, string>, value: number) =>
  Metric.update(Metric.withAttributes(gauge, attributes), value)

/** `pgfleet_host_up` for the host in its role now; the series of a role it left goes to 0 (`Members.upSeries`). */
const setUp = (members: Members, m: Member, value: number): Effect.Effect<void> =>
  Effect.suspend(() => {
    const { left, role } = members.upSeries(m)
    const now = set(PostgresMetrics.hostUp, tags(members, m, { role }), value)
    return left === undefined
      ? now
      : Effect.andThen(set(PostgresMetrics.hostUp, tags(members, m, { role: left }), 0), now)
  })

/** The host went down: counted by what noticed it first, and no longer up. */
export const down = (members: Members, m: Member, detectedBy: DetectedBy): Effect.Effect<void> =>
  Effect.andThen(
    Metric.update(Metric.withAttributes(PostgresMetrics.hostDown, tags(members, m, { detected_by: detectedBy })), 1),
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
    if (lagBytes !== undefined) yield* set(PostgresMetrics.replicaLagBytes, tags(members, m), lagBytes)
    if (lagSeconds !== undefined) yield* set(PostgresMetrics.replicaLagSeconds, tags(members, m), lagSeconds)
  })

/** A probe answered: up only when the host is in its role. */
export const answered = (members: Members, m: Member, inRole: boolean, latencyMs: number): Effect.Effect<void> =>
  Effect.andThen(
    setUp(members, m, inRole ? 1 : 0),
    Metric.update(Metric.withAttributes(PostgresMetrics.probeLatency, tags(members, m)), latencyMs)
  )

/** The connections of the pool that serves the member now, under OpenTelemetry's names. */
export const poolCounts = (members: Members, m: Member): Effect.Effect<void> =>
  Effect.gen(function*() {
    const pool = members.poolOf(m)
    if (pool === undefined) return
    const counts = pool.counts()
    const name = { "db.client.connection.pool.name": PostgresMetrics.poolName(members.fleet, pool.role, pool.host) }
    yield* set(PostgresMetrics.connectionCount, { ...name, "db.client.connection.state": "idle" }, counts.idle)
    yield* set(PostgresMetrics.connectionCount, { ...name, "db.client.connection.state": "used" }, counts.inUse)
    yield* set(PostgresMetrics.connectionPendingRequests, name, counts.waiting)
    yield* set(PostgresMetrics.connectionMax, name, pool.maxPoolSize)
    const idleMin = pool.sqlPg === undefined ? pool.pgPool.options.min : pool.sqlPg.pool.config.minConnections
    yield* set(PostgresMetrics.connectionIdleMin, name, idleMin ?? 0)
  })

/** How long the member's pool took to open and warm, once when its probe fiber starts. */
export const warmup = (members: Members, m: Member): Effect.Effect<void> =>
  Effect.suspend(() => {
    const pool = members.poolOf(m)
    return pool === undefined
      ? Effect.void
      : set(PostgresMetrics.poolWarmup, tags(members, m), Duration.toMillis(pool.warmupTime))
  })

/** Writes moved to another candidate. */
export const writerChanged = (members: Members): Effect.Effect<void> =>
  Metric.update(Metric.withAttributes(PostgresMetrics.writerChanges, { fleet: members.fleet }), 1)
