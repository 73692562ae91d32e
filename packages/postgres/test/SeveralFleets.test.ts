import { assert, describe, it, layer } from "@effect/vitest"
import { Check, Settings } from "@pgfleet/core"
import { Fleet, Legacy, Postgres, PostgresConfig, PostgresLive } from "@pgfleet/postgres"
import { envFor, eventually, layerTest, TestCluster } from "@pgfleet/testing"
import { Config, ConfigProvider, Context, Effect, HashMap, Layer, Logger, Metric } from "effect"
import { recordingTracer, servedBy } from "./helpers.js"

/** Two clusters of a writer and one replica, for two fleets. */
class Clusters extends Context.Tag("test/Clusters")<Clusters, {
  readonly orders: TestCluster.TestCluster
  readonly analytics: TestCluster.TestCluster
}>() {}

const ClustersLive = Layer.scoped(
  Clusters,
  Effect.all({ orders: TestCluster.make({ replicas: 1 }), analytics: TestCluster.make({ replicas: 1 }) }, {
    concurrency: 2
  })
)

class Orders extends Context.Tag("test/Orders")<Orders, Postgres.Service>() {}
class Analytics extends Context.Tag("test/Analytics")<Analytics, Postgres.Service>() {}

const FAST = { DB_HEALTH_CHECK_INTERVAL_MS: "200", DB_CONNECT_RETRY_BASE_MS: "50" }
const fast = (prefix?: string) =>
  Object.fromEntries(Object.entries(FAST).map(([name, value]) => [PostgresConfig.prefixed(prefix, name), value]))

/** One environment holding both fleets: `ORDERS_DB_*` and `ANALYTICS_DB_*`, as the process environment would. */
const oneEnvironment = (clusters: Context.Tag.Service<Clusters>) => ({
  ...envFor(clusters.orders, "ORDERS"),
  ...fast("ORDERS"),
  ...envFor(clusters.analytics, "ANALYTICS"),
  ...fast("ANALYTICS")
})

/** A provider that reads a record as Effect's default provider reads `process.env` (paths joined with `_`). */
const providerOf = (env: Readonly<Record<string, string>>) =>
  ConfigProvider.fromMap(new Map(Object.entries(env)), { pathDelim: "_" })

/** Builds the two tags from `fleets` (given the clusters), with `env` as the environment. */
const withFleets = <E>(
  fleets: Layer.Layer<Orders | Analytics, E>,
  env: Readonly<Record<string, string>>
) =>
<A, E2>(body: (orders: Postgres.Service, analytics: Postgres.Service) => Effect.Effect<A, E2>) =>
  Effect.scoped(
    Effect.gen(function*() {
      const context = yield* Layer.build(fleets).pipe(Effect.withConfigProvider(providerOf(env)))
      return yield* body(Context.get(context, Orders), Context.get(context, Analytics))
    })
  )

/** Where each client of a fleet runs: the writer's port, and the ports its reads reached. */
const portsOf = (pg: Postgres.Service) =>
  Effect.gen(function*() {
    const writer = yield* servedBy(pg.writer)
    const readers = new Set<number>()
    for (let i = 0; i < 20; i++) readers.add(yield* servedBy(pg.reader))
    return { writer, readers: [...readers].sort() }
  })

const assertRoutesTo = (pg: Postgres.Service, cluster: TestCluster.TestCluster) =>
  Effect.map(portsOf(pg), (ports) => {
    assert.strictEqual(ports.writer, cluster.writer.port)
    assert.deepStrictEqual(ports.readers, cluster.readers.map((r) => r.port))
  })

/** The health metric `pgfleet_host_up` by its tags, from the process's metric registry. */
const hostUpTags = Effect.map(Metric.snapshot, (pairs) =>
  pairs
    .filter((p) => p.metricKey.name === "pgfleet_host_up")
    .map((p) => Object.fromEntries(p.metricKey.tags.map((t) => [t.key, t.value]))))

layer(ClustersLive, { excludeTestServices: true })("several fleets in one program", (it) => {
  it.effect("two fleets from one prefixed environment: each routes to its own cluster, under its own name", () =>
    Effect.gen(function*() {
      const clusters = yield* Clusters
      const fleets = Layer.merge(
        Layer.effect(Orders, Postgres.Postgres).pipe(Layer.provide(Postgres.layerFleet("ORDERS"))),
        Layer.effect(Analytics, Postgres.Postgres).pipe(Layer.provide(Postgres.layerFleet("ANALYTICS")))
      )
      yield* withFleets(fleets, oneEnvironment(clusters))((orders, analytics) =>
        Effect.gen(function*() {
          yield* assertRoutesTo(orders, clusters.orders)
          yield* assertRoutesTo(analytics, clusters.analytics)

          // stats: each fleet's rows are its own hosts, named by its fleet.
          const hostsOf = (c: TestCluster.TestCluster) =>
            [c.writer, ...c.readers].map((h) => `${h.host}:${h.port}`).sort()
          const orderStats = yield* orders.stats
          const analyticsStats = yield* analytics.stats
          assert.deepStrictEqual(orderStats.map((s) => s.host).sort(), hostsOf(clusters.orders))
          assert.deepStrictEqual(analyticsStats.map((s) => s.host).sort(), hostsOf(clusters.analytics))
          assert.deepStrictEqual([...new Set(orderStats.map((s) => s.fleet))], ["orders"])
          assert.deepStrictEqual([...new Set(analyticsStats.map((s) => s.fleet))], ["analytics"])

          // Health metrics carry the fleet: each fleet's hosts under its own label (once probed), none under the other's.
          const hostsUnder = (fleet: string) =>
            Effect.map(hostUpTags, (tags) => tags.filter((t) => t.fleet === fleet).map((t) => t.host))
          yield* eventually(
            Effect.map(
              Effect.all([hostsUnder("orders"), hostsUnder("analytics")]),
              ([o, a]) =>
                hostsOf(clusters.orders).every((h) => o.includes(h)) &&
                hostsOf(clusters.analytics).every((h) => a.includes(h))
            ),
            "every host's pgfleet_host_up under its fleet"
          )
          const tags = yield* hostUpTags
          for (
            const [fleet, cluster, other] of [
              ["orders", clusters.orders, clusters.analytics],
              ["analytics", clusters.analytics, clusters.orders]
            ] as const
          ) {
            const hosts = tags.filter((t) => t.fleet === fleet).map((t) => t.host)
            for (const host of hostsOf(cluster)) assert.include(hosts, host, `${fleet} reports ${host}`)
            for (const host of hostsOf(other)) assert.notInclude(hosts, host, `${fleet} does not report ${host}`)
          }
        })
      )
    }))

  it.effect("spans and log annotations of each fleet carry its name", () =>
    Effect.gen(function*() {
      const clusters = yield* Clusters
      const { spans, tracer } = recordingTracer()
      const logs: Array<{ message: string; fleet: unknown }> = []
      const logger = Logger.make(({ annotations, message }) =>
        void logs.push({
          message: String(message),
          fleet: HashMap.get(annotations, "fleet").pipe((o) => o._tag === "Some" ? o.value : undefined)
        })
      )
      const fleets = Layer.merge(
        Layer.effect(Orders, Postgres.Postgres).pipe(Layer.provide(Postgres.layerFleet("ORDERS"))),
        Layer.effect(Analytics, Postgres.Postgres).pipe(Layer.provide(Postgres.layerFleet("ANALYTICS")))
      )
      const replica = `${clusters.analytics.readers[0]!.host}:${clusters.analytics.readers[0]!.port}`
      yield* withFleets(fleets, oneEnvironment(clusters))((orders, analytics) =>
        Effect.gen(function*() {
          yield* orders.writer`SELECT 1`
          yield* analytics.writer.withTransaction(analytics.writer`SELECT 1`)
          // A fault in one fleet is logged under that fleet's name.
          yield* clusters.analytics.stopReader(0, "immediate")
          yield* eventually(Effect.sync(() => logs.some((l) => l.message.includes(`${replica} is down`))))
          yield* clusters.analytics.startReader(0)
        })
      ).pipe(Effect.withTracer(tracer), Effect.provide(Logger.replace(Logger.defaultLogger, logger)))

      const fleetOf = (name: string) =>
        spans.filter((s) => s.name === name).map((s) => s.attributes.get("pgfleet.fleet"))
      // The fleets' own work: every pool opened under its fleet's name.
      assert.sameMembers([...new Set(fleetOf("pgfleet.pool.open"))], ["orders", "analytics"])
      assert.notInclude(fleetOf("pgfleet.pool.open"), undefined)
      // Statements: one on each fleet, each span named by its fleet.
      const statements = spans.filter((s) => s.attributes.get("db.query.text") === "SELECT 1")
      assert.sameMembers([...new Set(statements.map((s) => s.attributes.get("pgfleet.fleet")))], [
        "orders",
        "analytics"
      ])
      const down = logs.filter((l) => l.message.includes(`${replica} is down`))
      assert.isNotEmpty(down)
      assert.deepStrictEqual([...new Set(down.map((l) => l.fleet))], ["analytics"])
    }))

  it.effect("Postgres.layerConfig(Config.nested(PostgresConfig.fromEnv, prefix)) gives two fleets, one per call", () =>
    Effect.gen(function*() {
      const clusters = yield* Clusters
      const fleets = Layer.merge(
        Layer.effect(Orders, Postgres.Postgres).pipe(
          Layer.provide(Postgres.layerConfig(Config.nested(PostgresConfig.fromEnv, "ORDERS")))
        ),
        Layer.effect(Analytics, Postgres.Postgres).pipe(
          Layer.provide(Postgres.layerConfig(Config.nested(PostgresConfig.fromEnv, "ANALYTICS")))
        )
      )
      const env = { ...oneEnvironment(clusters), ANALYTICS_DB_FLEET_NAME: "reporting" }
      yield* withFleets(fleets, env)((orders, analytics) =>
        Effect.gen(function*() {
          yield* assertRoutesTo(orders, clusters.orders)
          yield* assertRoutesTo(analytics, clusters.analytics)
          // A Config cannot see the path it is read under: the name comes from the prefixed DB_FLEET_NAME.
          assert.strictEqual((yield* orders.stats)[0]!.fleet, "default")
          assert.strictEqual((yield* analytics.stats)[0]!.fleet, "reporting")
        })
      )
    }))

  it.effect("PostgresLive used twice with two providers gives two fleets; a layer made once is shared", () =>
    Effect.gen(function*() {
      const clusters = yield* Clusters
      const under = (cluster: TestCluster.TestCluster) =>
        Layer.setConfigProvider(providerOf({ ...cluster.env, ...fast() }))
      const twice = Layer.merge(
        Layer.effect(Orders, Postgres.Postgres).pipe(
          Layer.provide(PostgresLive),
          Layer.provide(under(clusters.orders))
        ),
        Layer.effect(Analytics, Postgres.Postgres).pipe(
          Layer.provide(PostgresLive),
          Layer.provide(under(clusters.analytics))
        )
      )
      yield* withFleets(twice, {})((orders, analytics) =>
        Effect.gen(function*() {
          assert.notStrictEqual(orders, analytics)
          yield* assertRoutesTo(orders, clusters.orders)
          yield* assertRoutesTo(analytics, clusters.analytics)
        })
      )

      // The Effect idiom still holds for a layer value made once: used twice, it is one fleet.
      const Live = Postgres.layerConfig(PostgresConfig.fromEnvPrefixed("ORDERS"))
      const shared = Layer.merge(
        Layer.effect(Orders, Postgres.Postgres).pipe(Layer.provide(Live)),
        Layer.effect(Analytics, Postgres.Postgres).pipe(Layer.provide(Live))
      )
      yield* withFleets(shared, oneEnvironment(clusters))((a, b) => Effect.sync(() => assert.strictEqual(a, b)))
    }))

  it.effect("errors of a prefixed environment name the prefixed variables", () =>
    Effect.gen(function*() {
      const clusters = yield* Clusters
      const env: Record<string, string> = {
        ...envFor(clusters.orders, "ORDERS"),
        ORDERS_DB_PORT: "54x",
        ORDERS_DB_MIN_POOL_SIZE: "20"
      }
      delete env.ORDERS_DB_WRITER_HOST
      const message = String(
        yield* Layer.build(Postgres.layerFleet("ORDERS")).pipe(
          Effect.withConfigProvider(providerOf(env)),
          Effect.scoped,
          Effect.flip
        )
      )
      assert.include(message, "ORDERS_DB_WRITER_HOST")
      assert.include(message, "ORDERS_DB_PORT")
      assert.notInclude(message, clusters.orders.env.DB_PASSWORD!)

      // Validation across settings names the prefixed variables too.
      const crossed = yield* Layer.build(Postgres.layerFleet("ORDERS")).pipe(
        Effect.withConfigProvider(providerOf({ ...envFor(clusters.orders, "ORDERS"), ORDERS_DB_MIN_POOL_SIZE: "20" })),
        Effect.scoped,
        Effect.flip
      )
      assert.include(String(crossed), "ORDERS_DB_MIN_POOL_SIZE")
      assert.include(String(crossed), "at most ORDERS_DB_MAX_POOL_SIZE (10)")

      // pgfleet check reads the same prefix, and its errors name the same variables.
      const report = yield* Effect.promise(() => Check.check(env, { prefix: "ORDERS" }))
      assert.strictEqual(report.status, "misconfigured")
      assert.include(report.problems.join("\n"), "ORDERS_DB_WRITER_HOST: expected a value, got none")
      assert.include(report.problems.join("\n"), "ORDERS_DB_PORT: expected a whole number")
    }))

  it.effect("pgfleet check --prefix checks the prefixed fleet", () =>
    Effect.gen(function*() {
      const clusters = yield* Clusters
      const env = oneEnvironment(clusters)
      const orders = yield* Effect.promise(() => Check.check(env, { prefix: "ORDERS" }))
      const analytics = yield* Effect.promise(() => Check.check(env, { prefix: "ANALYTICS" }))
      assert.strictEqual(orders.status, "healthy")
      assert.strictEqual(orders.fleet, "orders")
      assert.deepStrictEqual(orders.hosts.map((h) => h.host), [
        `${clusters.orders.writer.host}:${clusters.orders.writer.port}`,
        ...clusters.orders.readers.map((r) => `${r.host}:${r.port}`)
      ])
      assert.strictEqual(analytics.fleet, "analytics")
      assert.strictEqual(
        analytics.hosts[0]!.host,
        `${clusters.analytics.writer.host}:${clusters.analytics.writer.port}`
      )

      // The command itself: exit code 0 and the fleet's name in its table; no DB_* of its own needed.
      const lines: Array<string> = []
      const log = console.log
      console.log = (line: string) => void lines.push(line)
      const code = yield* Effect.promise(() => Check.cli(["check", "--prefix", "ANALYTICS"], env)).pipe(
        Effect.ensuring(Effect.sync(() => console.log = log))
      )
      assert.strictEqual(code, 0)
      assert.include(lines.join("\n"), "fleet analytics")
      assert.include(lines.join("\n"), `${clusters.analytics.writer.port}`)
    }))

  it.effect("createFleet and the original module's functions take a prefix", () =>
    Effect.gen(function*() {
      const clusters = yield* Clusters
      const env = oneEnvironment(clusters)
      const portOf = async (pool: { query: (sql: string) => Promise<{ rows: Array<{ port: number }> }> }) =>
        (await pool.query("SELECT current_setting('port')::int AS port")).rows[0]!.port
      yield* Effect.promise(async () => {
        const [orders, analytics] = await Promise.all([
          Fleet.createFleet(env, { prefix: "ORDERS" }),
          Fleet.createFleet(env, { prefix: "ANALYTICS" })
        ])
        try {
          assert.strictEqual(orders.name, "orders")
          assert.strictEqual(analytics.name, "analytics")
          assert.strictEqual(await portOf(orders.writerPool), clusters.orders.writer.port)
          assert.strictEqual(await portOf(orders.readerPool), clusters.orders.readers[0]!.port)
          assert.strictEqual(await portOf(analytics.writerPool), clusters.analytics.writer.port)
          assert.strictEqual(await portOf(analytics.readerPool), clusters.analytics.readers[0]!.port)
          assert.deepStrictEqual([...new Set((await analytics.stats()).map((s) => s.fleet))], ["analytics"])
        } finally {
          await Promise.all([orders.close(), analytics.close()])
        }
        // createFleet's errors name the prefixed variable.
        const { ORDERS_DB_USERNAME: _, ...noUser } = env
        const error = await Fleet.createFleet(noUser, { prefix: "ORDERS" }).then(() => undefined, (e: unknown) => e)
        assert.include(String(error), "ORDERS_DB_USERNAME")

        try {
          assert.strictEqual(
            await portOf(await Legacy.getWriterPool(env, { prefix: "ORDERS" })),
            clusters.orders.writer.port
          )
          assert.strictEqual(
            await portOf(await Legacy.getWriterPool(env, { prefix: "ANALYTICS" })),
            clusters.analytics.writer.port
          )
          assert.strictEqual(
            await portOf(await Legacy.getRandomReaderPool(env, { prefix: "ANALYTICS" })),
            clusters.analytics.readers[0]!.port
          )
          // Cached per prefix: the same fleet again.
          assert.strictEqual(
            await Legacy.getFleet(env, { prefix: "ORDERS" }),
            await Legacy.getFleet(env, { prefix: "ORDERS" })
          )
        } finally {
          await Legacy.cleanupPools()
        }
      })
    }))
})

describe("PostgresTest for named fleets", () => {
  const TwoClusters = Layer.merge(
    Layer.effect(Orders, Postgres.Postgres).pipe(Layer.provide(layerTest({ replicas: 1, name: "orders" }))),
    Layer.effect(Analytics, Postgres.Postgres).pipe(Layer.provide(layerTest({ replicas: 1, name: "analytics" })))
  )
  layer(TwoClusters, { excludeTestServices: true })((it) => {
    it.effect("two test fleets on two clusters, each under its name", () =>
      Effect.gen(function*() {
        const orders = yield* Orders
        const analytics = yield* Analytics
        const o = yield* portsOf(orders)
        const a = yield* portsOf(analytics)
        assert.notStrictEqual(o.writer, a.writer)
        assert.deepStrictEqual([...new Set((yield* orders.stats).map((s) => s.fleet))], ["orders"])
        assert.deepStrictEqual([...new Set((yield* analytics.stats).map((s) => s.fleet))], ["analytics"])
      }))
  })
})

it("Settings.fromEnv reads a prefix once: variables, the fleet's name and every issue carry it", () => {
  const env = { ORDERS_DB_WRITER_HOST: "orders-db", ORDERS_DB_USERNAME: "app", ORDERS_DB_PASSWORD: "x" }
  const ok = Settings.fromEnv(env, { prefix: "ORDERS" })
  assert.strictEqual(ok._tag, "Valid")
  if (ok._tag === "Valid") assert.strictEqual(ok.settings.fleetName, "orders")
  const named = Settings.fromEnv({ ...env, ORDERS_DB_FLEET_NAME: "shop" }, { prefix: "ORDERS" })
  if (named._tag === "Valid") assert.strictEqual(named.settings.fleetName, "shop")
  // Unprefixed variables are not read under a prefix.
  const bad = Settings.fromEnv({ DB_WRITER_HOST: "db", ORDERS_DB_USERNAME: "app", ORDERS_DB_PASSWORD: "x" }, {
    prefix: "ORDERS"
  })
  assert.strictEqual(bad._tag, "Invalid")
  if (bad._tag === "Invalid") {
    assert.deepStrictEqual(bad.issues.map((i) => i.variable), ["ORDERS_DB_WRITER_HOST"])
    assert.include(new Settings.SettingsError(bad.issues).message, "ORDERS_DB_WRITER_HOST: expected a value, got none")
  }
  const unprefixed = Settings.fromEnv({ DB_WRITER_HOST: "db", DB_USERNAME: "app", DB_PASSWORD: "x" })
  if (unprefixed._tag === "Valid") assert.strictEqual(unprefixed.settings.fleetName, "default")
})
