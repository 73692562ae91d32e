import { assert, layer } from "@effect/vitest"
import { Postgres, ReaderPools } from "@pgfleet/postgres"
import { settingsFor, TestCluster } from "@pgfleet/testing"
import { Effect, Layer, Logger, Redacted } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { servedBy } from "./helpers.js"

/** Distinct enough that a leak into a log line cannot be a coincidence. */
const FIRST = "rot-pw-1st-Qz8#w"
const SECOND = "rot-pw-2nd-Vk3$e"

/** Every log line the fleet writes, as text, to check no password is among them. */
const captured: Array<string> = []
const capture = Logger.replace(
  Logger.defaultLogger,
  Logger.make(({ annotations, message }) => {
    captured.push(`${JSON.stringify(message)} ${JSON.stringify([...annotations])}`)
  })
)

const members = (cluster: TestCluster.TestCluster) => ["writer" as const, ...cluster.readers.map((_, i) => i)]

/** A login role of its own, so rotating its password leaves the cluster's own user alone. */
const createRole = (cluster: TestCluster.TestCluster, role: string) =>
  Effect.gen(function*() {
    yield* cluster.query("writer", `CREATE ROLE ${role} LOGIN PASSWORD '${FIRST}'`)
    yield* cluster.query("writer", `CREATE TABLE ${role}_t (id int)`)
    yield* cluster.query("writer", `GRANT ALL ON ${role}_t TO ${role}`)
    yield* replayed(cluster)
  })

/** Waits until every replica has replayed the writer's position now (a role's new password included). */
const replayed = (cluster: TestCluster.TestCluster) =>
  Effect.gen(function*() {
    const [{ lsn }] = (yield* cluster.query<{ lsn: string }>("writer", "SELECT pg_current_wal_lsn()::text AS lsn")) as [
      { lsn: string }
    ]
    for (let i = 0; i < cluster.readers.length; i++) {
      for (let tries = 0;; tries++) {
        const [row] = yield* cluster.query<{ done: boolean }>(
          i,
          "SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS done",
          [lsn]
        )
        if (row!.done) break
        if (tries > 500) return yield* Effect.die(new Error(`replica ${i} did not replay ${lsn}`))
        yield* Effect.sleep("10 millis")
      }
    }
  })

/** The server's password changes and every backend of the role is ended, pools' and probes' alike. */
const rotateOnServer = (cluster: TestCluster.TestCluster, role: string) =>
  Effect.gen(function*() {
    yield* cluster.query("writer", `ALTER ROLE ${role} PASSWORD '${SECOND}'`)
    yield* replayed(cluster)
    let ended = 0
    for (const member of members(cluster)) {
      const rows = yield* cluster.query<{ ended: boolean }>(
        member,
        "SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity WHERE usename = $1",
        [role]
      )
      ended += rows.filter((r) => r.ended).length
    }
    // Idle pooled connections learn of their end from the server's goodbye; let it arrive.
    yield* Effect.sleep("200 millis")
    return ended
  })

/** Reads on every replica and writes, each on a new connection, all with the password now in force. */
const readsAndWritesGoOn = (cluster: TestCluster.TestCluster, role: string) =>
  Effect.gen(function*() {
    const pg = yield* Postgres.Postgres
    const ports = yield* Effect.replicateEffect(servedBy(pg.reader), 30)
    assert.deepStrictEqual([...new Set(ports)].sort(), cluster.readers.map((r) => r.port).sort())
    for (let i = 0; i < 5; i++) yield* pg.writer`INSERT INTO ${pg.writer(`${role}_t`)} VALUES (${i})`
    const stats = yield* pg.stats
    for (const s of stats) assert.strictEqual(s.health, "healthy", `${s.host} after the rotation`)
  })

const fleetAs = (role: string, settings: Parameters<typeof Postgres.layer>[0] extends infer S ? Partial<S> : never) =>
  Layer.unwrapEffect(Effect.map(TestCluster.Cluster, (cluster) => {
    const { password: _, ...rest } = settingsFor(cluster)
    return Postgres.layer(
      { ...rest, username: role, applicationName: role, ...settings } as Parameters<typeof Postgres.layer>[0]
    )
  }))

layer(TestCluster.layer({ replicas: 2 }), { excludeTestServices: true, timeout: "60 seconds" })(
  "changing passwords",
  (it) => {
    it.effect("DB_PASSWORD_FILE: the password rotated on the server and in the file, every backend ended: reads and writes go on", () =>
      Effect.gen(function*() {
        const cluster = yield* TestCluster.Cluster
        const role = "rot_file"
        yield* createRole(cluster, role)
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgfleet-password-"))
        const file = path.join(dir, "password")
        fs.writeFileSync(file, `${FIRST}\n`, { mode: 0o600 })
        yield* Effect.gen(function*() {
          yield* readsAndWritesGoOn(cluster, role)
          fs.writeFileSync(file, `${SECOND}\n`)
          const ended = yield* rotateOnServer(cluster, role)
          assert.isAbove(ended, 2, "pooled and probe connections of ours were ended")
          yield* readsAndWritesGoOn(cluster, role)
          // New connections of every pool logged in again.
          const pools = yield* ReaderPools.ReaderPools
          for (const p of pools) assert.isAbove(p.counts().total, 0)
        }).pipe(Effect.provide(fleetAs(role, { passwordFile: file })))
      }).pipe(Effect.provide(capture)))

    it.effect("a password provider cached for 10 minutes: a refused login asks it once more, past the cache", () =>
      Effect.gen(function*() {
        const cluster = yield* TestCluster.Cluster
        const role = "rot_provider"
        yield* createRole(cluster, role)
        let current = FIRST
        let calls = 0
        const provider = Effect.sync(() => {
          calls++
          return Redacted.make(current)
        })
        yield* Effect.gen(function*() {
          yield* readsAndWritesGoOn(cluster, role)
          // Warm-up of three pools and the probes shared one ask, then the cache served.
          assert.strictEqual(calls, 1)
          current = SECOND
          yield* rotateOnServer(cluster, role)
          yield* readsAndWritesGoOn(cluster, role)
          // The cached password was refused; concurrent refusals asked the provider once more between them.
          assert.strictEqual(calls, 2)
        }).pipe(Effect.provide(fleetAs(role, { passwordProvider: provider, passwordCacheTime: "10 minutes" })))
      }).pipe(Effect.provide(capture)))

    it.effect("an async function as provider (createFleet's form), asked for each new connection", () =>
      Effect.gen(function*() {
        const cluster = yield* TestCluster.Cluster
        const role = "rot_async"
        yield* createRole(cluster, role)
        let current = FIRST
        yield* Effect.gen(function*() {
          yield* readsAndWritesGoOn(cluster, role)
          current = SECOND
          yield* rotateOnServer(cluster, role)
          yield* readsAndWritesGoOn(cluster, role)
        }).pipe(Effect.provide(fleetAs(role, { passwordProvider: async () => current })))
      }).pipe(Effect.provide(capture)))

    it("no password reached a log line", () => {
      assert.isAbove(captured.length, 0)
      for (const line of captured) {
        assert.notInclude(line, FIRST)
        assert.notInclude(line, SECOND)
      }
    })
  }
)
