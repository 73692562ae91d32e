import { registerInstrumentations } from "@opentelemetry/instrumentation"
import { PgInstrumentation } from "@opentelemetry/instrumentation-pg"
import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { NodeTracerProvider } from "@opentelemetry/sdk-trace-node"
import { Fleet } from "@pgfleet/pg"
import { startTestCluster, type TestCluster } from "@pgfleet/pg/testing"
import { createRequire } from "node:module"
import { afterAll, assert, beforeAll, describe, it } from "vitest"

// The stable database conventions: server.address, server.port, db.query.text.
process.env.OTEL_SEMCONV_STABILITY_OPT_IN = "database"
const exporter = new InMemorySpanExporter()
const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
provider.register()
registerInstrumentations({ instrumentations: [new PgInstrumentation()] })
// The instrumentation patches pg when it is required; an ES module import of pg does not pass through require.
createRequire(import.meta.url)("pg")

let cluster: TestCluster
let fleet: Fleet.Fleet

beforeAll(async () => {
  cluster = await startTestCluster({ replicas: 2 })
  fleet = await Fleet.createFleet(cluster.env)
})

afterAll(async () => {
  await fleet?.close()
  await cluster?.stop()
})

const spansOf = (text: string) =>
  exporter.getFinishedSpans().filter((span) => span.attributes["db.query.text"] === text)

describe("@opentelemetry/instrumentation-pg", () => {
  it("a span per query through readerPool and writerPool, naming the server that ran it", async () => {
    const read = "SELECT 'traced read' AS what"
    const write = "SELECT 'traced write' AS what"
    for (let i = 0; i < 20; i++) await fleet.readerPool.query(read)
    await fleet.writerPool.query(write)

    const replicaPorts = cluster.readers.map((r) => r.port)
    const readPorts = spansOf(read).map((span) => span.attributes["server.port"])
    assert.lengthOf(readPorts, 20)
    assert.isTrue(readPorts.every((port) => replicaPorts.includes(port as number)))
    // The router spreads reads: both replicas ran some.
    assert.sameMembers([...new Set(readPorts)], replicaPorts)
    const [written] = spansOf(write)
    assert.strictEqual(written?.attributes["server.port"], cluster.writer.port)
    assert.strictEqual(written?.attributes["server.address"], cluster.writer.host)
  })

  it("reads after a replica stopped all succeed, each span naming the replica that answered", async () => {
    const text = "SELECT 'after a stop' AS what"
    const stopped = cluster.readers[0]!.port
    await cluster.stopReader(0, "immediate")
    const results = await Promise.all(Array.from({ length: 8 }, () => fleet.readerPool.query(text)))
    assert.lengthOf(results, 8)
    const ok = spansOf(text).filter((span) => span.status.code !== 2)
    assert.lengthOf(ok, 8)
    assert.isTrue(ok.every((span) => span.attributes["server.port"] !== stopped))
    await cluster.startReader(0)
  })
})
