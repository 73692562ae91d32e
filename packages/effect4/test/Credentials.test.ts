import { Effect, Layer, Logger, ManagedRuntime, Redacted } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Postgres, type PostgresConfig } from "../src/index.js"
import { eventually, settingsOf, startCluster } from "./helpers.js"

/** Distinct enough that a leak into a log line cannot be a coincidence. */
const FIRST = "e4-rot-1st-Qz8#w"
const SECOND = "e4-rot-2nd-Vk3$e"

type Cluster = Awaited<ReturnType<typeof startCluster>>
let cluster: Cluster
beforeAll(async () => {
  cluster = await startCluster(1)
})
afterAll(() => cluster?.stop())

const members = ["writer", 0] as const

/** A login role of its own, so rotating its password leaves the cluster's own user alone. */
const createRole = async (role: string) => {
  await cluster.query("writer", `CREATE ROLE ${role} LOGIN PASSWORD '${FIRST}'`)
  await cluster.waitForReplication()
}

/** The server's password changes and every backend of the role is ended, pools' and probes' alike. */
const rotateOnServer = async (role: string) => {
  await cluster.query("writer", `ALTER ROLE ${role} PASSWORD '${SECOND}'`)
  await cluster.waitForReplication()
  for (const member of members) {
    await cluster.query(member, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", [role])
  }
  // Idle pooled connections learn of their end from the server's goodbye; let it arrive.
  await new Promise((r) => setTimeout(r, 200))
}

/** Runs `body` on a fleet of `role` with `password`, every log line captured as text. */
const asRole = async <A>(
  role: string,
  password: Partial<PostgresConfig.PostgresSettingsInput>,
  body: (pg: Postgres.Service) => Effect.Effect<A, unknown>
) => {
  const lines: Array<string> = []
  const capture = Logger.make((o) => void lines.push(`${JSON.stringify(o.message)} ${String(o.cause)}`))
  const { password: _, ...settings } = settingsOf(cluster, { username: role, healthCheckInterval: "200 millis" })
  const runtime = ManagedRuntime.make(
    Layer.fresh(Postgres.layer({ ...settings, ...password } as PostgresConfig.PostgresSettingsInput)).pipe(
      Layer.provide(Logger.layer([capture]))
    )
  )
  try {
    return { result: await runtime.runPromise(Effect.flatMap(Postgres.Postgres, body)), lines }
  } finally {
    await runtime.dispose()
  }
}

/**
 * A read and a write, each of which must succeed; then a read that reaches the replica again (the probe
 * that found it suspect when its backends were ended has logged in anew, so it is back in routing).
 */
const standbyAndWriter = (pg: Postgres.Service) =>
  Effect.gen(function*() {
    const standby = pg.reader<{ s: boolean }>`SELECT pg_is_in_recovery() AS s`.pipe(Effect.map((r) => r[0]!.s))
    yield* standby
    const writer = yield* Effect.map(pg.writer<{ s: boolean }>`SELECT pg_is_in_recovery() AS s`, (r) => r[0]!.s)
    yield* eventually(standby, "a read on the replica")
    return [yield* standby, writer]
  })

describe("changing passwords (effect 4), from core's sources", () => {
  it("DB_PASSWORD_FILE: read for new connections; a rotation on the server with every backend ended costs no statement", async () => {
    await createRole("e4_file_role")
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "e4-pw-")), "password")
    fs.writeFileSync(file, FIRST + "\n")
    const { lines, result } = await asRole("e4_file_role", { passwordFile: file }, (pg) =>
      Effect.gen(function*() {
        const before = yield* standbyAndWriter(pg)
        fs.writeFileSync(file, SECOND + "\n")
        yield* Effect.promise(() => rotateOnServer("e4_file_role"))
        // New connections on both hosts, logging in with what the file says now.
        const after = yield* standbyAndWriter(pg)
        return { before, after }
      }))
    expect(result).toEqual({ before: [true, false], after: [true, false] })
    for (const line of lines) {
      expect(line).not.toContain(FIRST)
      expect(line).not.toContain(SECOND)
    }
  })

  it("passwordProvider as an Effect giving Redacted: asked again after a refused login", async () => {
    await createRole("e4_provider_role")
    let current = FIRST
    let asked = 0
    const provider = Effect.sync(() => {
      asked++
      return Redacted.make(current)
    })
    const { result } = await asRole("e4_provider_role", { passwordProvider: provider }, (pg) =>
      Effect.gen(function*() {
        const before = yield* standbyAndWriter(pg)
        const askedBefore = asked
        current = SECOND
        yield* Effect.promise(() => rotateOnServer("e4_provider_role"))
        const after = yield* standbyAndWriter(pg)
        return { before, after, askedAgain: asked > askedBefore }
      }))
    expect(result).toEqual({ before: [true, false], after: [true, false], askedAgain: true })
  })
})
