import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Postgres } from "../src/index.js"
import { label, servedBy, settingsOf, startCluster, withFleet } from "./helpers.js"

type Cluster = Awaited<ReturnType<typeof startCluster>>
let cluster: Cluster
beforeAll(async () => {
  cluster = await startCluster(2)
})
afterAll(() => cluster?.stop())

describe("per-host settings (effect 4), from core's host entries", () => {
  for (const strategy of ["round-robin", "random"] as const) {
    it(`;weight=3 against 1 gives that replica 3 reads in 4 (${strategy}); ;max=N bounds its pool`, async () => {
      const [heavy, light] = cluster.readers
      const outcome = await withFleet(
        settingsOf(cluster, {
          readerHosts: [`${label(heavy!)};weight=3;max=3`, label(light!)],
          readerStrategy: strategy,
          maxPoolSize: 5
        }),
        Effect.gen(function*() {
          const pg = yield* Postgres.Postgres
          const ports = yield* Effect.replicateEffect(Effect.map(servedBy(pg.reader), (s) => s.port), 2000)
          return { ports, stats: yield* pg.stats }
        })
      )
      const onHeavy = outcome.ports.filter((p) => p === heavy!.port).length
      if (strategy === "round-robin") expect(onHeavy).toBe(1500)
      // Random: 1,500 expected; 1,400..1,600 holds with overwhelming odds (σ ≈ 19).
      else expect(Math.abs(onHeavy - 1500)).toBeLessThan(100)
      const byHost = new Map(outcome.stats.map((s) => [s.host, s]))
      expect(byHost.get(label(heavy!))).toMatchObject({ weight: 3, maxPoolSize: 3 })
      expect(byHost.get(label(light!))).toMatchObject({ weight: 1, maxPoolSize: 5 })
    })
  }
})
