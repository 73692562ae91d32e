import { Context, Metric } from "effect"
import { describe, expect, it } from "vitest"
import { PostgresMetrics } from "../src/index.js"
import * as KeptSeries from "../src/internal/postgres/keptSeries.js"

const fresh = () => Context.make(Metric.MetricRegistry, new Map())
const stateOf = (context: Context.Context<never>, id: string, attributes: Record<string, string>) =>
  Metric.snapshotUnsafe(context).find((m) =>
    m.id === id && Object.entries(attributes).every(([k, v]) => m.attributes?.[k] === v)
  )?.state

describe("kept metric series (the statement path's metrics)", () => {
  it("a kept histogram reads as effect's own histogram given the same values", () => {
    const context = fresh()
    const values = [0.00005, 0.0001, 0.0003, 0.002, 0.002, 0.04, 0.7, 3, 12, 0.0001]
    const own = Metric.histogram("own", { boundaries: PostgresMetrics.secondsBoundaries, attributes: { a: "1" } })
    const kept = KeptSeries.histogram(
      Metric.histogram("kept", { boundaries: PostgresMetrics.secondsBoundaries, attributes: { a: "1" } }),
      PostgresMetrics.secondsBoundaries,
      context
    )
    for (const v of values) {
      own.updateUnsafe(v, context)
      kept.record(v)
    }
    expect(stateOf(context, "kept", { a: "1" })).toEqual(stateOf(context, "own", { a: "1" }))
    expect((stateOf(context, "kept", { a: "1" }) as { count: number }).count).toBe(values.length)
  })

  it("is one series per registry and attributes: two recorders of it add up, another registry starts at 0", () => {
    const context = fresh()
    const metric = () => Metric.counter("reads", { incremental: true, attributes: { host: "h:1" } })
    KeptSeries.counter(metric(), context).add(2)
    KeptSeries.counter(metric(), context).add(3)
    KeptSeries.counter(Metric.counter("reads", { incremental: true, attributes: { host: "h:2" } }), context).add(7)
    expect(stateOf(context, "reads", { host: "h:1" })).toEqual({ count: 5, incremental: true })
    expect(stateOf(context, "reads", { host: "h:2" })).toEqual({ count: 7, incremental: true })
    const other = fresh()
    KeptSeries.counter(metric(), other).add(1)
    expect(stateOf(other, "reads", { host: "h:1" })).toEqual({ count: 1, incremental: true })
  })
})
