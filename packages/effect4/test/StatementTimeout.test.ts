import { Effect, Layer } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Postgres, PostgresError } from "../src/index.js"
import { label, settingsOf, startCluster, withFleet } from "./helpers.js"

type Cluster = Awaited<ReturnType<typeof startCluster>>
let cluster: Cluster
beforeAll(async () => {
  cluster = await startCluster(1)
})
afterAll(() => cluster?.stop())

describe("DB_STATEMENT_TIMEOUT_MODE=verify (effect 4): the server must set the timeout", () => {
  it("a host whose connections run without it is refused at start, named; once the role has it, the fleet opens", async () => {
    const settings = settingsOf(cluster, { statementTimeout: "2 seconds", statementTimeoutMode: "verify" })
    const refused = await Effect.runPromise(
      Effect.flip(Effect.scoped(Layer.build(Layer.fresh(Postgres.layer(settings)))))
    )
    expect(refused).toBeInstanceOf(PostgresError.PostgresError)
    expect((refused as PostgresError.PostgresError).reason).toBe("Misconfigured")
    // The writer and the replica open at once: the first refused is named.
    const named = [cluster.writer, ...cluster.readers].map(label).filter((host) => refused.message.includes(host))
    expect(named.length).toBe(1)

    await cluster.query("writer", `ALTER ROLE ${cluster.username} SET statement_timeout = '2s'`)
    await cluster.waitForReplication()
    const timeout = await withFleet(
      settings,
      Effect.flatMap(Postgres.Postgres, (pg) =>
        pg.reader<{ statement_timeout: string }>`SHOW statement_timeout`.pipe(
          Effect.map((rows) => rows[0]!.statement_timeout)
        ))
    )
    expect(timeout).toBe("2s")
  })
})
