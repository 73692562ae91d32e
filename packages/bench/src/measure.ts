/** Load loops and the figures taken from them. */
import { Effect } from "effect"

export interface LoadResult {
  readonly ops: number
  readonly failed: number
  readonly seconds: number
  /** Latency of every successful op, in milliseconds. */
  readonly latencies: Float64Array
}

export interface Figures {
  readonly readsPerSecond: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly failed: number
}

class Recorder {
  latencies = new Float64Array(1 << 16)
  ops = 0
  failed = 0
  record(ms: number) {
    if (this.ops === this.latencies.length) {
      const grown = new Float64Array(this.latencies.length * 2)
      grown.set(this.latencies)
      this.latencies = grown
    }
    this.latencies[this.ops++] = ms
  }
  result(seconds: number): LoadResult {
    return { ops: this.ops, failed: this.failed, seconds, latencies: this.latencies.subarray(0, this.ops) }
  }
}

/** `concurrency` promise workers calling `op` until `durationMs` has passed. */
export const promiseLoad = async (
  op: () => Promise<unknown>,
  concurrency: number,
  durationMs: number
): Promise<LoadResult> => {
  const recorder = new Recorder()
  const started = performance.now()
  const deadline = started + durationMs
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < deadline) {
      const t = performance.now()
      try {
        await op()
        recorder.record(performance.now() - t)
      } catch {
        recorder.failed++
      }
    }
  }))
  return recorder.result((performance.now() - started) / 1000)
}

/** The same loop with Effect fibers, for the Effect-based contenders. */
export const effectLoad = <E, R>(
  op: () => Effect.Effect<unknown, E, R>,
  concurrency: number,
  durationMs: number
): Effect.Effect<LoadResult, never, R> =>
  Effect.suspend(() => {
    const recorder = new Recorder()
    const started = performance.now()
    const deadline = started + durationMs
    const worker = Effect.gen(function*() {
      while (performance.now() < deadline) {
        const t = performance.now()
        const exit = yield* Effect.exit(op())
        if (exit._tag === "Success") recorder.record(performance.now() - t)
        else recorder.failed++
      }
    })
    return Effect.all(Array.from({ length: concurrency }, () => worker), { concurrency: "unbounded", discard: true })
      .pipe(
        Effect.map(() => recorder.result((performance.now() - started) / 1000))
      )
  })

const percentile = (sorted: Float64Array, p: number) =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!

export const figures = (r: LoadResult): Figures => {
  const sorted = Float64Array.from(r.latencies).sort()
  return {
    readsPerSecond: r.ops / r.seconds,
    p50Ms: percentile(sorted, 0.5),
    p99Ms: percentile(sorted, 0.99),
    failed: r.failed
  }
}

export const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}
