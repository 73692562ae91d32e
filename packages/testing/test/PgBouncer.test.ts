import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import pg from "pg"
import { TestCluster } from "../src/index.js"

/** Live pgbouncer processes whose config lies under `dir`. */
const bouncersUnder = (dir: string) =>
  fs.readdirSync("/proc").filter((entry) => {
    if (!/^\d+$/.test(entry)) return false
    try {
      const cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, "utf8")
      const state = fs.readFileSync(`/proc/${entry}/stat`, "utf8").split(") ")[1]?.[0]
      return cmdline.includes("pgbouncer") && cmdline.includes(dir) && state !== "Z"
    } catch {
      return false
    }
  })

describe("TestCluster with bouncers", () => {
  it.live(
    "a PgBouncer in front of every server, every one stopped when the scope closes after a failure",
    () =>
      Effect.gen(function*() {
        let dir = ""
        const exit = yield* Effect.exit(Effect.scoped(Effect.gen(function*() {
          const cluster = yield* TestCluster.make({ replicas: 1, bouncers: true, password: "p\"w'd ü" })
          dir = path.dirname(cluster.tlsCaFile)
          assert.strictEqual(bouncersUnder(dir).length, 2)
          assert.strictEqual(cluster.env.DB_PORT, String(cluster.writer.port))
          assert.strictEqual(cluster.env.DB_READER_HOSTS, `127.0.0.1:${cluster.readers[0]!.port}`)
          // Through the bouncer, with a password that needs quoting in its userlist, to the server behind it.
          const client = new pg.Client({
            ...cluster.readers[0]!,
            user: cluster.username,
            password: cluster.env.DB_PASSWORD!,
            database: cluster.database
          })
          const port = yield* Effect.promise(async () => {
            await client.connect()
            try {
              return (await client.query<{ port: string }>("SELECT current_setting('port') AS port")).rows[0]!.port
            } finally {
              await client.end()
            }
          })
          assert.strictEqual(Number(port), cluster.servers.readers[0]!.port)
          return yield* Effect.fail("the test failed here")
        })))
        assert.isTrue(Exit.isFailure(exit))
        assert.deepStrictEqual(bouncersUnder(dir), [])
        assert.isFalse(fs.existsSync(dir))
      }),
    { timeout: 60_000 }
  )

  it.live("no pgbouncer binary: a clear error that says how to install it, before any server starts", () =>
    Effect.gen(function*() {
      const before = process.env.PGFLEET_PGBOUNCER
      process.env.PGFLEET_PGBOUNCER = "/nonexistent/pgbouncer"
      const error = yield* Effect.flip(Effect.scoped(TestCluster.make({ replicas: 0, bouncers: true }))).pipe(
        Effect.ensuring(Effect.sync(() => {
          if (before === undefined) delete process.env.PGFLEET_PGBOUNCER
          else process.env.PGFLEET_PGBOUNCER = before
        }))
      )
      assert.include(error.message, "PGFLEET_PGBOUNCER is /nonexistent/pgbouncer, which is not an executable file")
      assert.include(error.message, "apt-get install -y pgbouncer")
    }))
})
