import { TestCluster } from "@pgfleet/testing"
import { Effect, Layer } from "effect"
import type { SqlClient } from "effect/sql/SqlClient"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Postgres, PostgresError } from "../src/index.js"
import { driver, settingsOf, withFleet } from "./helpers.js"

let cluster: TestCluster.TestClusterPromise
beforeAll(async () => {
  cluster = await TestCluster.startTestCluster({ replicas: 1, tls: true })
})
afterAll(() => cluster?.stop())

/** Whether the statement's own connection is encrypted, as the server sees it. */
const encrypted = (sql: SqlClient) =>
  Effect.map(sql<{ ssl: boolean }>`SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()`, (rows) => rows[0]!.ssl)

describe(`TLS (effect 4, ${driver})`, () => {
  it("DB_SSL_MODE=verify-full with the cluster's CA: every statement, writer and reader, runs encrypted", async () => {
    const seen = await withFleet(
      settingsOf(cluster, { ssl: "verify-full", sslCaFile: cluster.tlsCaFile }),
      Effect.gen(function*() {
        const pg = yield* Postgres.Postgres
        const writer = yield* encrypted(pg.writer)
        const reads = yield* Effect.forEach(Array.from({ length: 6 }), () => encrypted(pg.reader), {
          concurrency: 3
        })
        const inTransaction = yield* pg.writer.withTransaction(encrypted(pg.writer))
        return { writer, reads: [...new Set(reads)], inTransaction }
      })
    )
    expect(seen).toEqual({ writer: true, reads: [true], inTransaction: true })
  })

  it("verify-full without the CA refuses the self-signed certificate, naming DB_SSL_CA_FILE", async () => {
    const refused = await Effect.runPromise(
      Effect.flip(Effect.scoped(Layer.build(Layer.fresh(Postgres.layer(
        settingsOf(cluster, { ssl: "verify-full", retryMaxAttempts: 1 })
      )))))
    )
    expect(refused).toBeInstanceOf(PostgresError.PostgresError)
    expect((refused as PostgresError.PostgresError).reason).toBe("Misconfigured")
    expect(refused.message).toMatch(/certificate/i)
    expect(refused.message).toContain("DB_SSL_CA_FILE")
  })
})
