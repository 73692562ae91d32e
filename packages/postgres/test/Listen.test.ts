import * as PgClient from "@effect/sql-pg/PgClient"
import { expect, layer } from "@effect/vitest"
import { layerTest } from "@pgfleet/testing"
import { Chunk, Effect, Fiber, Stream, TestServices } from "effect"

// @effect/sql-pg's own test (Effect repository, v3, packages/sql-pg/test/Client.test.ts), on pgfleet's writer.
layer(layerTest({ replicas: 0, settings: { maxPoolSize: 1, minPoolSize: 1 } }), {
  excludeTestServices: true,
  timeout: "90 seconds"
})("PgClient listen", (it) => {
  it.scoped("listen does not reserve a pool connection", () =>
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      const channel = "pool_connection_listen"

      const listenFiber = yield* sql.listen(channel).pipe(
        Stream.take(1),
        Stream.runCollect,
        Effect.forkScoped
      )

      yield* Effect.sleep("250 millis")

      const rows = yield* sql<{ value: number }>`SELECT 1 as value`.pipe(
        Effect.timeoutFail({
          duration: "3 seconds",
          onTimeout: () => new Error("query timed out while listener was active")
        })
      )
      expect(rows).toEqual([{ value: 1 }])

      yield* sql`SELECT pg_notify(${channel}, ${"payload"})`

      const payloads = yield* Fiber.join(listenFiber).pipe(
        Effect.timeoutFail({
          duration: "3 seconds",
          onTimeout: () => new Error("listener did not receive notification in time")
        })
      )
      expect(Chunk.toReadonlyArray(payloads)).toEqual(["payload"])
    }).pipe(TestServices.provideLive))
})
