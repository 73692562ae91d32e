/**
 * A small HTTP service on pgfleet: writes go to the writer, reads through
 * the router, `/health` and `/stats` show the fleet, and `/metrics` gives
 * every metric to Prometheus.
 */
import { HttpRouter, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { Postgres } from "@pgfleet/postgres"
import { PostgresTelemetry } from "@pgfleet/postgres/telemetry"
import { Effect, Layer, Schema } from "effect"

const NewNote = Schema.Struct({ body: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(10_000)) })

/** Creates the `notes` table on the writer if it is missing. */
export const SchemaLive = Layer.effectDiscard(Effect.gen(function*() {
  const pg = yield* Postgres.Postgres
  yield* pg.writer`CREATE TABLE IF NOT EXISTS notes (
    id bigserial PRIMARY KEY,
    body text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
  )`
}))

/** Bad input is 400; database trouble 503, with the reason (never a secret: pgfleet errors carry none). */
const failureResponse = (error: unknown) => {
  const { _tag, message } = error as { _tag?: string; message?: string }
  switch (_tag) {
    case "ParseError":
    case "RequestError":
      return HttpServerResponse.json({ error: "invalid request", detail: message }, { status: 400 })
    case "SqlError":
      return HttpServerResponse.json({ error: "database unavailable", detail: message }, { status: 503 })
    default:
      return HttpServerResponse.json({ error: "internal error" }, { status: 500 })
  }
}

const respondToFailures = <E, R>(handler: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>) =>
  Effect.catchAll(handler, failureResponse).pipe(Effect.orDie)

/** The routes: `POST /notes`, `GET /notes`, `GET /health`, `GET /stats`, `GET /metrics`. */
export const NotesApp = HttpRouter.empty.pipe(
  HttpRouter.post(
    "/notes",
    respondToFailures(Effect.gen(function*() {
      const { body } = yield* HttpServerRequest.schemaBodyJson(NewNote)
      const pg = yield* Postgres.Postgres
      const [note] = yield* pg.writer`INSERT INTO notes ${pg.writer.insert({ body })} RETURNING id, body, created_at`
      return yield* HttpServerResponse.json(note, { status: 201 })
    }))
  ),
  HttpRouter.get(
    "/notes",
    respondToFailures(Effect.gen(function*() {
      const pg = yield* Postgres.Postgres
      const notes = yield* pg.reader`SELECT id, body, created_at FROM notes ORDER BY id DESC LIMIT 100`
      return yield* HttpServerResponse.json(notes)
    }))
  ),
  HttpRouter.get(
    "/health",
    Effect.gen(function*() {
      const pg = yield* Postgres.Postgres
      const hosts = yield* pg.stats
      const writer = hosts.find((h) => h.role === "writer")!
      // A suspect writer still takes writes; only probes that say it is down make the service unready.
      const writerUp = writer.health !== "down" && !writer.roleMismatch
      const body = {
        status: writerUp ? "ok" : "writer-down",
        hosts: hosts.map((h) => ({
          host: h.host,
          role: h.role,
          health: h.health,
          observedRole: h.observedRole,
          roleMismatch: h.roleMismatch,
          lagBytes: h.lagBytes ?? null,
          lagSeconds: h.lagSeconds ?? null
        }))
      }
      return yield* HttpServerResponse.json(body, { status: writerUp ? 200 : 503 })
    }).pipe(respondToFailures)
  ),
  HttpRouter.get(
    "/stats",
    respondToFailures(Effect.gen(function*() {
      const pg = yield* Postgres.Postgres
      return yield* HttpServerResponse.json(yield* pg.stats)
    }))
  ),
  // Prometheus text format, histograms included (PostgresTelemetry.layer provides the scrape).
  HttpRouter.get("/metrics", PostgresTelemetry.metricsResponse)
)
