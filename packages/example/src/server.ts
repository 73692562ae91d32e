/**
 * `pnpm --filter @pgfleet/example serve`: the notes service on
 * `@effect/platform-node`, on port `PORT` (default 3000). SIGINT and SIGTERM
 * stop accepting requests, drain, close the pools (and the embedded cluster).
 * `GET /metrics` answers Prometheus; with `OTEL_EXPORTER_OTLP_ENDPOINT` set,
 * spans and metrics are also pushed to that OpenTelemetry collector.
 */
import { HttpMiddleware, HttpServer } from "@effect/platform"
import { NodeHttpServer, NodeRuntime } from "@effect/platform-node"
import { PostgresTelemetry } from "@pgfleet/postgres/telemetry"
import { Config, Layer } from "effect"
import { createServer } from "node:http"
import * as Fleet from "./Fleet.js"
import { NotesApp, SchemaLive } from "./NotesApp.js"

const port = Config.integer("PORT").pipe(
  Config.withDefault(3000),
  Config.withDescription("HTTP port of the notes service")
)

const ServerLive = HttpServer.serve(NotesApp, HttpMiddleware.logger).pipe(
  HttpServer.withLogAddress,
  Layer.provide(NodeHttpServer.layerConfig(createServer, { port })),
  Layer.provide(SchemaLive),
  Layer.provide(Fleet.layer()),
  Layer.provide(PostgresTelemetry.layerConfig({ serviceName: "pgfleet-notes" }))
)

NodeRuntime.runMain(Layer.launch(ServerLive))
