import { HttpClient, HttpClientRequest, HttpServer } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { assert, describe, layer } from "@effect/vitest"
import { Postgres } from "@pgfleet/postgres"
import { PostgresTelemetry } from "@pgfleet/postgres/telemetry"
import { eventually, settingsFor, TestCluster } from "@pgfleet/testing"
import { parser } from "@prometheus-io/lezer-promql"
import { Effect, Either, Fiber, Layer, Ref } from "effect"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { NotesApp, SchemaLive } from "../src/NotesApp.js"

/**
 * The example server's routes on the example's fleet (a writer and 2
 * replicas, reader 0 a writer candidate, as `src/Fleet.ts` makes it), with
 * fast probes and a short pool timeout so that a test sees failover and
 * overload within seconds.
 */
const FleetTest = Layer.unwrapEffect(Effect.map(TestCluster.Cluster, (cluster) =>
  Postgres.layer({
    ...settingsFor(cluster),
    writerHosts: [cluster.writer, cluster.readers[0]!].map((h) => `${h.host}:${h.port}`),
    healthCheckInterval: "200 millis",
    healthCheckTimeout: "300 millis",
    connectTimeout: "1 second",
    retryBase: "50 millis",
    maxPoolSize: 4,
    poolTimeout: "300 millis"
  }))).pipe(Layer.provideMerge(TestCluster.layer({ replicas: 2 })))

const ServerTest = HttpServer.serve(NotesApp).pipe(
  Layer.provide(SchemaLive),
  Layer.provideMerge(NodeHttpServer.layerTest),
  Layer.provideMerge(FleetTest),
  Layer.provideMerge(PostgresTelemetry.layer({ serviceName: "pgfleet-notes-test" }))
)

const post = (body: string) =>
  Effect.flatMap(
    HttpClient.HttpClient,
    (client) => client.execute(HttpClientRequest.post("/notes").pipe(HttpClientRequest.bodyUnsafeJson({ body })))
  ).pipe(Effect.map((res) => res.status), Effect.scoped)

const getStatus = (url: string) =>
  Effect.flatMap(HttpClient.HttpClient, (client) => client.get(url)).pipe(
    Effect.map((res) => res.status),
    Effect.scoped
  )

/** What a user of the server does to it: writes, reads, a failed statement, overload, a replica lost, a primary failover. */
const Traffic = Layer.effectDiscard(Effect.gen(function*() {
  const cluster = yield* TestCluster.Cluster
  const pg = yield* Postgres.Postgres
  for (let i = 0; i < 10; i++) assert.strictEqual(yield* post(`note ${i}`), 201)
  yield* cluster.waitForReplication()
  for (let i = 0; i < 20; i++) assert.strictEqual(yield* getStatus("/notes"), 200)
  // Failed statements: a SQL error on the writer, one on a replica.
  yield* Effect.flip(pg.writer`SELECT 1 / 0`)
  yield* Effect.flip(pg.reader`SELECT * FROM no_such_table`)
  // Overload: more sleepers than the writer's pool of 4, each waiting at most 300 ms for a connection.
  const sleeps = yield* Effect.all(
    Array.from({ length: 8 }, () => Effect.either(pg.writer`SELECT pg_sleep(0.6)`)),
    { concurrency: "unbounded" }
  )
  assert.isTrue(sleeps.some(Either.isLeft), "some statement timed out waiting for a connection")
  // A replica lost under 8 reading callers: reads move on (and are retried elsewhere).
  const stop = yield* Ref.make(false)
  const readers = yield* Effect.fork(Effect.all(
    Array.from({ length: 8 }, () => Effect.repeat(getStatus("/notes"), { until: () => Ref.get(stop) })),
    { concurrency: "unbounded" }
  ))
  yield* Effect.sleep("300 millis")
  yield* cluster.stopReader(1, "fast")
  yield* eventually(Effect.map(pg.stats, (hosts) => hosts.some((h) => h.health === "down")), "reader 1 down")
  yield* Effect.sleep("300 millis")
  yield* Ref.set(stop, true)
  yield* Fiber.join(readers)
  yield* cluster.startReader(1)
  yield* eventually(Effect.map(pg.stats, (hosts) => hosts.every((h) => h.health === "healthy")), "every host healthy")
  // A primary failover: the writer stops, reader 0 is promoted, reader 1 follows it.
  yield* cluster.stopWriter("fast")
  yield* cluster.promoteReader(0)
  yield* cluster.followWriter(1, 0)
  const newPrimary = cluster.readers[0]!.port
  yield* eventually(
    Effect.map(
      Effect.either(pg.writer<{ port: number }>`SELECT current_setting('port')::int AS port`),
      (r) => Either.isRight(r) && r.right[0]!.port === newPrimary
    ),
    "writes on the promoted replica"
  )
  assert.strictEqual(yield* post("after the failover"), 201)
  assert.strictEqual(yield* getStatus("/notes"), 200)
})).pipe(Layer.provideMerge(ServerTest))

/** `GET /metrics` as Prometheus scrapes it. */
const scrape = Effect.flatMap(HttpClient.HttpClient, (client) => client.get("/metrics")).pipe(
  Effect.flatMap((res) =>
    Effect.map(res.text, (text) => ({ status: res.status, type: res.headers["content-type"], text }))
  ),
  Effect.scoped
)

/** Runs promtool (Debian's `prometheus` package, installed by `.ci/run`) with `input` on stdin. */
const promtool = (args: ReadonlyArray<string>, input?: string) => {
  const run = spawnSync("promtool", args, { input, encoding: "utf8" })
  if (run.error) throw new Error(`promtool did not run (apt-get install prometheus): ${run.error.message}`)
  return { status: run.status, output: run.stdout + run.stderr }
}

/** Every series name in a scrape: `_bucket`, `_sum` and `_count` for histograms, as Prometheus stores them. */
const seriesNames = (text: string) =>
  new Set(
    text.split("\n").filter((line) => line !== "" && !line.startsWith("#")).map((line) =>
      /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)![0]
    )
  )

/**
 * Lint findings promtool is allowed to make, each with its reason; any other
 * finding fails the test.
 */
const acceptedLint: ReadonlyArray<[RegExp, string]> = [
  [
    /^db_client_connection_count non-histogram and non-summary metrics should not have "_count" suffix$/,
    "OpenTelemetry's semantic-convention name db.client.connection.count, which dashboards use as is"
  ],
  [/^effect_fiber_\w+ /, "Effect's own runtime metrics, not pgfleet's"],
  [/^pgfleet_\w+_ms /, "pgfleet's published millisecond names (probe latency, warm-up), kept"]
]

const dashboard = JSON.parse(
  fs.readFileSync(path.join(__dirname, "../../../dashboards/pgfleet.json"), "utf8")
) as { panels: ReadonlyArray<{ title: string; targets?: ReadonlyArray<{ expr: string }> }> }

/** Grafana's variables, as Prometheus would get them from Grafana. */
const grafanaExpanded = (expr: string) =>
  expr.replaceAll("$__rate_interval", "1m").replaceAll("$__range", "1h").replaceAll("$__interval", "1m")

/** The metric names an expression selects, from PromQL's own grammar (Prometheus's lezer parser). */
const selectedMetrics = (expr: string) => {
  const tree = parser.parse(expr)
  const names: Array<string> = []
  const errors: Array<number> = []
  tree.iterate({
    enter: (node) => {
      if (node.type.isError) errors.push(node.from)
      if (node.name === "VectorSelector") {
        const id = node.node.getChild("Identifier")
        if (id) names.push(expr.slice(id.from, id.to))
      }
    }
  })
  return { names, errors }
}

describe("getting the metrics out", () => {
  layer(Traffic, { excludeTestServices: true, timeout: "180 seconds" })((it) => {
    it.effect("GET /metrics after traffic is Prometheus text that promtool parses, with histogram buckets", () =>
      Effect.gen(function*() {
        const { status, text, type } = yield* scrape
        assert.strictEqual(status, 200)
        assert.strictEqual(type, PostgresTelemetry.contentType)
        const check = promtool(["check", "metrics"], text)
        // 0: clean; 3: lint findings only; 1: the text did not parse.
        assert.include([0, 3], check.status, check.output)
        const findings = check.output.split("\n").filter((l) => l.trim() !== "")
        for (const finding of findings) {
          assert.isTrue(acceptedLint.some(([re]) => re.test(finding)), `promtool: ${finding}`)
        }
        assert.match(text, /^# TYPE db_client_operation_duration_seconds histogram$/m)
        for (const name of ["db_client_operation_duration_seconds", "db_client_connection_wait_time_seconds"]) {
          const buckets = text.split("\n").filter((l) => l.startsWith(`${name}_bucket{`))
          assert.isAbove(buckets.length, 10, `${name} buckets`)
          assert.isTrue(buckets.some((l) => l.includes(`le="+Inf"`)), `${name} has a +Inf bucket`)
          assert.match(text, new RegExp(`^${name}_sum\\{`, "m"))
          assert.match(text, new RegExp(`^${name}_count\\{`, "m"))
        }
        // The unit is in the name, not a label; the failed statements carry error.type.
        assert.notMatch(text, /[{,]unit="/)
        assert.match(text, /^db_client_operation_duration_seconds_count\{[^}]*error_type="22012"/m)
        assert.match(text, /^db_client_connection_count\{[^}]*db_client_connection_state="used"/m)
        assert.match(text, /^db_client_connection_count\{[^}]*db_client_connection_state="idle"/m)
      }))

    it.effect("every metric the dashboard's PromQL names is one pgfleet's /metrics holds after traffic", () =>
      Effect.gen(function*() {
        const emitted = seriesNames((yield* scrape).text)
        const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })))
        assert.isAtLeast(exprs.length, 15)
        const missing: Array<string> = []
        const used = new Set<string>()
        for (const { expr, panel } of exprs) {
          const { errors, names } = selectedMetrics(grafanaExpanded(expr))
          assert.deepStrictEqual(errors, [], `${panel}: ${expr} does not parse`)
          assert.isAbove(names.length, 0, `${panel}: ${expr} names no metric`)
          for (const name of names) {
            used.add(name)
            if (!emitted.has(name)) missing.push(`${panel}: ${name}`)
          }
        }
        assert.deepStrictEqual(missing, [], `scraped: ${[...emitted].sort().join(" ")}`)
        // Prometheus's own parser agrees: every expression as a recording rule.
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgfleet-dashboard-"))
        const rules = path.join(dir, "rules.json")
        fs.writeFileSync(
          rules,
          JSON.stringify({
            groups: [{
              name: "dashboard",
              rules: exprs.map(({ expr }, i) => ({ record: `pgfleet:panel_${i}`, expr: grafanaExpanded(expr) }))
            }]
          })
        )
        const check = promtool(["check", "rules", rules])
        fs.rmSync(dir, { recursive: true, force: true })
        assert.strictEqual(check.status, 0, check.output)
        // The dashboard shows each kind the issue asks for.
        for (
          const name of [
            "pgfleet_reads_routed_total",
            "pgfleet_host_up",
            "pgfleet_replica_lag_seconds",
            "db_client_operation_duration_seconds_bucket",
            "db_client_connection_count",
            "db_client_connection_wait_time_seconds_bucket",
            "pgfleet_writer_changes_total"
          ]
        ) assert.isTrue(used.has(name), name)
      }))
  })
})
