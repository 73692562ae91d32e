import type { SqlClient } from "@effect/sql/SqlClient"
import { Postgres } from "@pgfleet/postgres"
import type { PostgresConfig } from "@pgfleet/postgres"
import { settingsFor, TestCluster } from "@pgfleet/testing"
import { Effect, Layer, Tracer } from "effect"

/** The port of the server that ran the statement: tells the hosts of one machine apart. */
export const servedBy = (sql: SqlClient) =>
  Effect.map(sql<{ port: number }>`SELECT current_setting('port')::int AS port`, (rows) => rows[0]!.port)

/** A fleet over the shared test cluster, with some settings changed; built and released per use. */
export const fleet = (settings: Partial<PostgresConfig.PostgresSettingsInput> = {}) =>
  Layer.unwrapEffect(
    Effect.map(TestCluster.Cluster, (cluster) => Postgres.layer({ ...settingsFor(cluster), ...settings }))
  )

/** Connections on every server of the cluster that carry `applicationName`. */
export const connectionsNamed = (cluster: TestCluster.TestCluster, applicationName: string) =>
  Effect.forEach(
    ["writer" as const, ...cluster.readers.map((_, i) => i)],
    (member) =>
      cluster.query<{ n: number }>(
        member,
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1",
        [applicationName]
      ).pipe(Effect.map((rows) => rows[0]!.n)),
    { concurrency: "unbounded" }
  ).pipe(Effect.map((counts) => counts.reduce((a, b) => a + b, 0)))

/** A tracer that keeps every span it starts, for checking their attributes. */
export const recordingTracer = () => {
  const spans: Array<Tracer.Span> = []
  let next = 0
  const tracer = Tracer.make({
    span: (name, parent, context, links, _startTime, kind) => {
      const attributes = new Map<string, unknown>()
      const span: Tracer.Span = {
        _tag: "Span",
        name,
        spanId: `span-${next++}`,
        traceId: "trace",
        parent,
        context,
        status: { _tag: "Started", startTime: 0n },
        attributes,
        links,
        sampled: true,
        kind,
        end: () => {},
        attribute: (key, value) => void attributes.set(key, value),
        event: () => {},
        addLinks: () => {}
      }
      spans.push(span)
      return span
    },
    context: (f) => f()
  })
  return { spans, tracer }
}
