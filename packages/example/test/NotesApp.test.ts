import { HttpClient, HttpClientRequest, HttpServer } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { assert, layer } from "@effect/vitest"
import { HealthMonitor, WriterPool } from "@pgfleet/postgres"
import { PostgresTelemetry } from "@pgfleet/postgres/telemetry"
import { eventually, layerTest, TestCluster } from "@pgfleet/testing"
import { Effect, Layer } from "effect"
import { NotesApp, SchemaLive } from "../src/NotesApp.js"

const NotesTest = HttpServer.serve(NotesApp).pipe(
  Layer.provide(SchemaLive),
  Layer.provide(PostgresTelemetry.layer()),
  Layer.provideMerge(NodeHttpServer.layerTest),
  Layer.provideMerge(layerTest({ settings: { healthCheckInterval: "200 millis", healthCheckTimeout: "300 millis" } }))
)

const getJson = (path: string) =>
  Effect.flatMap(HttpClient.HttpClient, (client) => client.get(path)).pipe(
    Effect.flatMap((res) => Effect.map(res.json, (body) => ({ status: res.status, body: body as any })))
  )

layer(NotesTest, { excludeTestServices: true, timeout: "60 seconds" })("notes service", (it) => {
  it.effect("POST /notes writes through the writer; GET /notes reads it back through the router", () =>
    Effect.gen(function*() {
      const cluster = yield* TestCluster.Cluster
      const client = yield* HttpClient.HttpClient
      const created = yield* client.execute(
        HttpClientRequest.post("/notes").pipe(HttpClientRequest.bodyUnsafeJson({ body: "hello, fleet" }))
      )
      assert.strictEqual(created.status, 201)
      const note = (yield* created.json) as { id: string; body: string }
      assert.strictEqual(note.body, "hello, fleet")
      yield* cluster.waitForReplication()
      const list = yield* getJson("/notes")
      assert.strictEqual(list.status, 200)
      assert.include(list.body.map((n: { body: string }) => n.body), "hello, fleet")
    }))

  it.effect("POST /notes with a bad body is a 400", () =>
    Effect.gen(function*() {
      const client = yield* HttpClient.HttpClient
      const res = yield* client.execute(
        HttpClientRequest.post("/notes").pipe(HttpClientRequest.bodyUnsafeJson({ body: "" }))
      )
      assert.strictEqual(res.status, 400)
    }))

  it.effect("GET /stats lists every host's pool", () =>
    Effect.gen(function*() {
      const cluster = yield* TestCluster.Cluster
      const { body, status } = yield* getJson("/stats")
      assert.strictEqual(status, 200)
      assert.deepStrictEqual(body.map((h: { role: string }) => h.role), ["writer", "reader", "reader"])
      assert.deepStrictEqual(body.map((h: { host: string }) => h.host), [
        `127.0.0.1:${cluster.writer.port}`,
        ...cluster.readers.map((r) => `127.0.0.1:${r.port}`)
      ])
      for (const h of body) assert.isAtLeast(h.total, 1)
    }))

  it.effect("GET /health is 200 with every host healthy, 503 while the writer is down", () =>
    Effect.gen(function*() {
      const cluster = yield* TestCluster.Cluster
      const writer = yield* WriterPool.WriterPool
      const monitor = yield* HealthMonitor.HealthMonitor
      const up = yield* getJson("/health")
      assert.strictEqual(up.status, 200)
      assert.deepStrictEqual(up.body.hosts.map((h: { health: string }) => h.health), ["healthy", "healthy", "healthy"])
      yield* cluster.stopWriter()
      yield* eventually(Effect.map(getJson("/health"), (r) => r.status === 503), "/health answers 503")
      const down = yield* getJson("/health")
      assert.strictEqual(down.status, 503)
      assert.strictEqual(down.body.status, "writer-down")
      yield* cluster.startWriter()
      yield* eventually(Effect.sync(() => monitor.health(writer.host).state === "healthy"), "writer healthy")
      assert.strictEqual((yield* getJson("/health")).status, 200)
    }))
})
