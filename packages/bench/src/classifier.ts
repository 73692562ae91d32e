/**
 * Child process of the bench: what the statement classifier costs. Memory before the parser
 * loads, after it loads, and after classifying 10k distinct statements; CPU µs per
 * classification, uncached (parse) and cached.
 */
import type * as Fleet from "@pgfleet/postgres"
import { Effect } from "effect"

const mib = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10
const memory = () => {
  globalThis.gc?.()
  const m = process.memoryUsage()
  return { rssMiB: mib(m.rss), heapMiB: mib(m.heapUsed), externalMiB: mib(m.external + m.arrayBuffers) }
}

const before = memory()
const { StatementClassifier } = await import(
  new URL("../../postgres/dist/index.js", import.meta.url).href
) as typeof Fleet
await Effect.runPromise(StatementClassifier.classifyText("SELECT 1"))
const loaded = memory()

const N = 10_000
const texts = Array.from({ length: N }, (_, i) =>
  i % 3 === 0
    ? `SELECT id, v FROM kv WHERE id = $1 AND v <> 'x${i}'`
    : i % 3 === 1
    ? `WITH x AS (SELECT * FROM kv WHERE id > ${i}) SELECT count(*) FROM x`
    : `UPDATE kv SET v = 'y' WHERE id = ${i}`)
const cpu = process.cpuUsage()
for (const text of texts) await Effect.runPromise(StatementClassifier.classifyText(text))
const used = process.cpuUsage(cpu)
const after = memory()

console.log(JSON.stringify({
  statements: N,
  uncachedCpuUsPerStatement: (used.user + used.system) / N,
  memory: { before, loaded, after }
}))
