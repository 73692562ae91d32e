/**
 * The bench's timelines as SVG charts. Vega-Lite specs compiled to Vega and rendered by Vega's
 * headless `View` (`renderer: "none"`, `toSVG()`): plain Node, no browser, no canvas package
 * (text widths are estimated without one). Chosen because it is a maintained grammar-of-graphics
 * library whose SVG renderer is part of the package, and a spec is data: a chart is a few lines.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import * as vega from "vega"
import { compile, type TopLevelSpec } from "vega-lite"

/** Counts in one time bucket. */
export interface Bucket {
  readonly ok: number
  readonly failed: number
}

/** One contender's reads around a replica stop, in buckets of `bucketMs` from the load's start. */
export interface ReplicaStop {
  readonly name: string
  readonly bucketMs: number
  readonly stopAtMs: number
  readonly buckets: ReadonlyArray<Bucket>
}

/** Writes around a primary failover at one probe interval. */
export interface WriterFailover {
  readonly probeIntervalMs: number
  readonly bucketMs: number
  readonly killAtMs: number
  readonly firstOnNewAtMs: number | undefined
  readonly buckets: ReadonlyArray<Bucket>
}

/** Writes around a writer freeze at one probe interval; `maxWaitMs` is the longest write ending in a bucket. */
export interface WriterFreeze {
  readonly probeIntervalMs: number
  readonly bucketMs: number
  readonly frozenAtMs: number
  readonly thawedAtMs: number
  readonly buckets: ReadonlyArray<Bucket & { readonly maxWaitMs: number }>
}

const WIDTH = 640
const HEIGHT = 150

/** A line per series over time (seconds), a step per bucket, and marks (vertical rules or a shaded span). */
const panel = (
  rows: ReadonlyArray<{ series: string; t: number; n: number }>,
  yTitle: string,
  seriesTitle: string,
  rules: ReadonlyArray<{ t: number; label: string }>,
  span?: { from: number; to: number; label: string }
) => ({
  width: WIDTH,
  height: HEIGHT,
  layer: [
    ...(span === undefined ? [] : [{
      data: { values: [span] },
      mark: { type: "rect" as const, color: "#ddd" },
      encoding: { x: { field: "from", type: "quantitative" as const }, x2: { field: "to" } }
    }]),
    {
      data: { values: rows },
      mark: { type: "line" as const, interpolate: "step-after" as const, strokeWidth: 1.5 },
      encoding: {
        x: { field: "t", type: "quantitative" as const, title: "seconds" },
        y: { field: "n", type: "quantitative" as const, title: yTitle },
        color: {
          field: "series",
          type: "nominal" as const,
          title: seriesTitle,
          legend: { orient: "right" as const, labelLimit: 400 }
        }
      }
    },
    ...(rules.length === 0 ? [] : [
      {
        data: { values: rules },
        mark: { type: "rule" as const, strokeDash: [4, 3], color: "#555" },
        encoding: { x: { field: "t", type: "quantitative" as const } }
      },
      {
        // Labels one line apart, in pixels from the top, so rules close together stay readable.
        data: { values: rules.map((r, n) => ({ ...r, y: 2 + 12 * n })) },
        mark: { type: "text" as const, align: "left" as const, baseline: "top" as const, dx: 3, fontSize: 10 },
        encoding: {
          x: { field: "t", type: "quantitative" as const },
          y: { field: "y", type: "quantitative" as const, scale: null },
          text: { field: "label" }
        }
      }
    ])
  ]
})

const series = <B>(
  name: string,
  bucketMs: number,
  buckets: ReadonlyArray<B>,
  value: (b: B) => number
) => buckets.map((b, i) => ({ series: name, t: (i * bucketMs) / 1000, n: value(b) }))

/** Reads and failed reads per bucket for every contender, with the stop marked. */
export const replicaStopSpec = (runs: ReadonlyArray<ReplicaStop>): TopLevelSpec => {
  const stop = [{ t: (runs[0]?.stopAtMs ?? 0) / 1000, label: "replica 0 stopped" }]
  const bucket = runs[0]?.bucketMs ?? 100
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: `Reads around a replica stop (32 callers, per ${bucket} ms)`,
    vconcat: [
      panel(
        runs.flatMap((r) => series(r.name, r.bucketMs, r.buckets, (b) => b.ok)),
        `reads / ${bucket} ms`,
        "contender",
        stop
      ),
      panel(
        runs.flatMap((r) => series(r.name, r.bucketMs, r.buckets, (b) => b.failed)),
        `failed reads / ${bucket} ms`,
        "contender",
        stop
      )
    ]
  } as TopLevelSpec
}

/** Acknowledged and failed writes per bucket at each probe interval, with the kill and first new-primary write marked. */
export const writerFailoverSpec = (runs: ReadonlyArray<WriterFailover>): TopLevelSpec => {
  const name = (r: WriterFailover) => `${r.probeIntervalMs} ms probes`
  const bucket = runs[0]?.bucketMs ?? 100
  const rules = [
    { t: (runs[0]?.killAtMs ?? 0) / 1000, label: "writer killed" },
    ...runs.flatMap((r) =>
      r.firstOnNewAtMs === undefined ? [] : [{ t: r.firstOnNewAtMs / 1000, label: `first write on new (${name(r)})` }]
    )
  ]
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: `Writes around a primary failover (4 writers, per ${bucket} ms)`,
    vconcat: [
      panel(
        runs.flatMap((r) => series(name(r), r.bucketMs, r.buckets, (b) => b.ok)),
        `writes / ${bucket} ms`,
        "probe interval",
        rules.slice(0, 1)
      ),
      panel(
        runs.flatMap((r) => series(name(r), r.bucketMs, r.buckets, (b) => b.failed)),
        `failed writes / ${bucket} ms`,
        "probe interval",
        rules
      )
    ]
  } as TopLevelSpec
}

/** Writes, failures and the longest wait per bucket at each probe interval, the freeze shaded. */
export const writerFreezeSpec = (runs: ReadonlyArray<WriterFreeze>): TopLevelSpec => {
  const name = (r: WriterFreeze) => `${r.probeIntervalMs} ms probes`
  const bucket = runs[0]?.bucketMs ?? 250
  const span = { from: (runs[0]?.frozenAtMs ?? 0) / 1000, to: (runs[0]?.thawedAtMs ?? 0) / 1000, label: "frozen" }
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: `Writer frozen (SIGSTOP, shaded) under 4 writers, per ${bucket} ms`,
    vconcat: [
      panel(
        runs.flatMap((r) => series(name(r), r.bucketMs, r.buckets, (b) => b.ok)),
        `writes / ${bucket} ms`,
        "probe interval",
        [],
        span
      ),
      panel(
        runs.flatMap((r) => series(name(r), r.bucketMs, r.buckets, (b) => b.failed)),
        `failed writes / ${bucket} ms`,
        "probe interval",
        [],
        span
      ),
      panel(
        runs.flatMap((r) => series(name(r), r.bucketMs, r.buckets, (b) => b.maxWaitMs)),
        "longest wait of a write, ms",
        "probe interval",
        [],
        span
      )
    ]
  } as TopLevelSpec
}

/** Renders a Vega-Lite spec to SVG text in Node. */
export const render = (spec: TopLevelSpec): Promise<string> =>
  new vega.View(vega.parse(compile(spec).spec), { renderer: "none" }).toSVG()

/** Whether `text` is an SVG document with drawn marks: the check the smoke run makes on every chart it writes. */
export const isSvg = (text: string): boolean =>
  /^<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/.test(text) && text.trimEnd().endsWith("</svg>") &&
  text.includes("<path")

/** Renders each chart to `dir/<name>.svg`, reads every file back and throws unless it is SVG; returns the paths. */
export const writeCharts = async (dir: string, charts: Record<string, TopLevelSpec>) => {
  fs.mkdirSync(dir, { recursive: true })
  const written: Array<string> = []
  for (const [name, spec] of Object.entries(charts)) {
    const file = path.join(dir, `${name}.svg`)
    fs.writeFileSync(file, await render(spec))
    if (!isSvg(fs.readFileSync(file, "utf8"))) throw new Error(`bench: ${file} is not an SVG chart`)
    written.push(file)
  }
  return written
}
