import { Fleet, Legacy } from "@pgfleet/pg"
import { startTestCluster, type TestCluster } from "@pgfleet/pg/testing"
import { sql } from "drizzle-orm"
import { drizzle } from "drizzle-orm/node-postgres"
import { integer, pgTable, text } from "drizzle-orm/pg-core"
import { withReplicas } from "drizzle-orm/pg-core"
import { Kysely, PostgresDialect, sql as ksql } from "kysely"
import * as path from "node:path"
import type pg from "pg"
import { afterAll, assert, beforeAll, describe, it } from "vitest"

interface NoteRow {
  readonly id: number
  readonly body: string
}
interface Notes {
  create(args: { data: { body: string } }): Promise<NoteRow>
  update(args: { where: { id: number }; data: { body: string } }): Promise<NoteRow>
  count(): Promise<number>
  findUniqueOrThrow(args: { where: { id: number } }): Promise<NoteRow>
}
interface Prisma {
  readonly note: Notes
  $transaction<A>(work: ReadonlyArray<Promise<A>>): Promise<Array<A>>
  $transaction<A>(work: (tx: { readonly note: Notes }) => Promise<A>): Promise<A>
  $queryRaw<A>(query: TemplateStringsArray, ...values: Array<unknown>): Promise<A>
  $disconnect(): Promise<void>
}

const notes = pgTable("notes", { id: integer("id").primaryKey(), body: text("body").notNull() })

let cluster: TestCluster
let fleet: Fleet.Fleet

beforeAll(async () => {
  cluster = await startTestCluster({ replicas: 2 })
  fleet = await Fleet.createFleet(cluster.env)
  await fleet.writerPool.query("CREATE TABLE notes (id int PRIMARY KEY, body text NOT NULL)")
  await fleet.writerPool.query(`CREATE TABLE "Note" (id serial PRIMARY KEY, body text NOT NULL)`)
  await cluster.waitForReplication()
})

afterAll(async () => {
  await fleet?.close()
  await Legacy.cleanupPools()
  await cluster?.stop()
})

const replicaPorts = () => new Set(cluster.readers.map((r) => r.port))
const portOf = async (pool: pg.Pool) =>
  (await pool.query<{ port: number }>("SELECT inet_server_port() AS port")).rows[0]!.port

describe("@pgfleet/pg", () => {
  it("plain pg: reads on a standby in promise and callback forms, every query config; writes on the primary", async () => {
    assert.isTrue(replicaPorts().has(await portOf(fleet.readerPool)))
    assert.strictEqual(await portOf(fleet.writerPool), cluster.writer.port)
    const viaCallback = await new Promise<boolean>((resolve, reject) =>
      fleet.readerPool.query(
        "SELECT pg_is_in_recovery() AS standby",
        (error: Error | undefined, result: pg.QueryResult) => error ? reject(error) : resolve(result.rows[0].standby)
      )
    )
    assert.isTrue(viaCallback)
    const arrays = await fleet.readerPool.query({
      text: "SELECT $1::int AS n, 'x' AS s",
      values: [7],
      rowMode: "array"
    })
    assert.deepStrictEqual(arrays.rows, [[7, "x"]])
    const asText = await fleet.readerPool.query({
      text: "SELECT 42::int8 AS big",
      types: { getTypeParser: () => (value: string) => `parsed:${value}` }
    })
    assert.strictEqual(asText.rows[0].big, "parsed:42")
    const failed = await fleet.readerPool.query("SELECT * FROM no_such_table").then(() => undefined, (e) => e)
    assert.strictEqual((failed as { code?: string } | undefined)?.code, "42P01")
  })

  it("drizzle: reads through readerPool on a replica, and withReplicas over the fleet's pools", async () => {
    const db = drizzle(fleet.writerPool)
    await db.insert(notes).values({ id: 1, body: "hello" })
    await cluster.waitForReplication()
    const reads = drizzle(fleet.readerPool)
    assert.deepStrictEqual(await reads.select().from(notes), [{ id: 1, body: "hello" }])
    const routed = withReplicas(drizzle(fleet.writerPool), [drizzle(fleet.readerPool)])
    const [where] = await routed.select({ standby: sql<boolean>`pg_is_in_recovery()` }).from(notes)
    assert.isTrue(where!.standby)
    await routed.insert(notes).values({ id: 2, body: "written through withReplicas" })
    assert.lengthOf(await db.select().from(notes), 2)
  })

  it("Kysely: PostgresDialect over readerPool reads on a replica; over writerPool writes in a transaction", async () => {
    interface Database {
      notes: { id: number; body: string }
    }
    const writes = new Kysely<Database>({ dialect: new PostgresDialect({ pool: fleet.writerPool }) })
    await writes.transaction().execute((tx) => tx.insertInto("notes").values({ id: 3, body: "kysely" }).execute())
    await cluster.waitForReplication()
    const reads = new Kysely<Database>({ dialect: new PostgresDialect({ pool: fleet.readerPool }) })
    const row = await reads.selectFrom("notes").selectAll().where("id", "=", 3).executeTakeFirstOrThrow()
    assert.strictEqual(row.body, "kysely")
    const { rows } = await ksql<{ standby: boolean }>`SELECT pg_is_in_recovery() AS standby`.execute(reads)
    assert.isTrue(rows[0]!.standby)
  })

  it("Prisma 7 through @prisma/adapter-pg: writes and transactions on writerPool, reads on readerPool", async () => {
    const dir = path.join(__dirname, "prisma")
    const { PrismaPg } = await import("@prisma/adapter-pg")
    // Generated above, so the type checker never sees it: typed here by what the test uses.
    const generated = path.join(dir, "generated", "client.ts")
    const { PrismaClient } = (await import(generated)) as { PrismaClient: new(options: object) => Prisma }
    const writes = new PrismaClient({ adapter: new PrismaPg(fleet.writerPool) })
    const reads = new PrismaClient({ adapter: new PrismaPg(fleet.readerPool) })
    try {
      const note = await writes.note.create({ data: { body: "from prisma" } })
      const [count] = await writes.$transaction([writes.note.count()])
      assert.strictEqual(count, 1)
      const inside = await writes.$transaction(async (tx) =>
        tx.note.update({ where: { id: note.id }, data: { body: "updated" } })
      )
      assert.strictEqual(inside.body, "updated")
      await cluster.waitForReplication()
      assert.strictEqual((await reads.note.findUniqueOrThrow({ where: { id: note.id } })).body, "updated")
      const [standby] = await reads.$queryRaw<Array<{ standby: boolean }>>`SELECT pg_is_in_recovery() AS standby`
      assert.isTrue(standby!.standby)
    } finally {
      await writes.$disconnect()
      await reads.$disconnect()
    }
  })

  it("Legacy: the original module's functions, one fleet per environment", async () => {
    const writer = await Legacy.getWriterPool(cluster.env)
    assert.strictEqual(await portOf(writer), cluster.writer.port)
    const replica = await Legacy.getRandomReaderPool(cluster.env)
    assert.isTrue(replicaPorts().has(await portOf(replica)))
    assert.lengthOf(await Legacy.getReaderPools(cluster.env), 2)
    assert.strictEqual(await Legacy.getWriterPool(cluster.env), writer)
  })

  it("stats: every host with its role and health", async () => {
    const stats = await fleet.stats()
    assert.deepStrictEqual(stats.map((s) => s.role).sort(), ["reader", "reader", "writer"])
    assert.isTrue(stats.every((s) => s.health === "healthy"))
  })
})

describe("@pgfleet/pg password provider", () => {
  it("no DB_PASSWORD: the provider gives the password for new connections, and the fleet reads and writes", async () => {
    const { DB_PASSWORD: password, ...env } = cluster.env
    let asked = 0
    const refused = await Fleet.createFleet(env).then(() => "opened", (error: Error) => error.message)
    assert.include(refused, "DB_PASSWORD")
    const withProvider = await Fleet.createFleet(env, {
      passwordProvider: async () => {
        asked++
        return password!
      }
    })
    try {
      assert.isAbove(asked, 0, "the provider was asked for the warm-up's connections")
      assert.isTrue(replicaPorts().has(await portOf(withProvider.readerPool)))
      assert.strictEqual(await portOf(withProvider.writerPool), cluster.writer.port)
    } finally {
      await withProvider.close()
    }
  })
})
