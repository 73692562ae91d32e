// The load loops and the alternated rounds of the bench's client processes (installed-run.mjs on
// effect 3, effect4-run.mjs on effect 4): copied beside them into the installed projects, so it
// imports nothing.

/** Latencies in a growing Float64Array: no allocation per statement. */
export const recorder = () => {
  let latencies = new Float64Array(1 << 16);
  const r = {
    ops: 0,
    failed: 0,
    record(ms) {
      if (r.ops === latencies.length) {
        const grown = new Float64Array(latencies.length * 2);
        grown.set(latencies);
        latencies = grown;
      }
      latencies[r.ops++] = ms;
    },
    figures(seconds, cpu) {
      const sorted = latencies.subarray(0, r.ops).sort();
      const at = (p) => sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
      return {
        perSecond: r.ops / seconds,
        cpuUs: (cpu.user + cpu.system) / Math.max(1, r.ops),
        p50Ms: at(0.5),
        p99Ms: at(0.99),
        failed: r.failed,
      };
    },
  };
  return r;
};

/** `callers` promise loops for `ms`, as code outside Effect calls a pool. */
export const promiseLoad = async (op, callers, ms) => {
  const r = recorder();
  const cpu = process.cpuUsage();
  const started = performance.now();
  const deadline = started + ms;
  await Promise.all(Array.from({ length: callers }, async () => {
    while (performance.now() < deadline) {
      const t = performance.now();
      try {
        await op();
        r.record(performance.now() - t);
      } catch {
        r.failed++;
      }
    }
  }));
  return r.figures((performance.now() - started) / 1000, process.cpuUsage(cpu));
};

/**
 * `callers` fibers for `ms`, as an Effect program calls its client; run by `runPromise` of the contender's
 * runtime. `Effect` is the caller's module: effect 3's or effect 4's (both have what this uses).
 */
export const effectLoad = (Effect, runPromise, op, callers, ms) => {
  const r = recorder();
  let cpu, started, deadline;
  const worker = Effect.gen(function*() {
    while (performance.now() < deadline) {
      const t = performance.now();
      const exit = yield* Effect.exit(op());
      if (exit._tag === "Success") r.record(performance.now() - t);
      else r.failed++;
    }
  });
  return runPromise(Effect.suspend(() => {
    cpu = process.cpuUsage();
    started = performance.now();
    deadline = started + ms;
    return Effect.all(Array.from({ length: callers }, () => worker), { concurrency: "unbounded", discard: true });
  })).then(() => r.figures((performance.now() - started) / 1000, process.cpuUsage(cpu)));
};

/**
 * Each workload: a warm-up run of every contender (not kept), then `rounds` rounds of one run each,
 * alternated, each round starting one contender later; every run logged to stderr. Closes the contenders and gives the runs.
 */
export const alternate = async (contenders, workloads, rounds) => {
  const width = Math.max(...contenders.map((c) => c.name.length));
  const runs = [];
  for (const workload of workloads) {
    for (const c of contenders) await c.load(workload);
    for (let round = 1; round <= rounds; round++) {
      // In one process the order moves the figures, so each round starts one contender further on.
      const first = (round - 1) % contenders.length;
      for (const c of [...contenders.slice(first), ...contenders.slice(0, first)]) {
        const f = await c.load(workload);
        runs.push({ key: c.key, name: c.name, workload, round, ...f });
        console.error(
          `    round ${round}/${rounds}  ${workload.padEnd(9)}  ${c.name.padEnd(width)} ${
            f.perSecond.toFixed(0).padStart(6)
          } reads/s ${f.cpuUs.toFixed(1).padStart(6)} CPU µs/statement${f.failed ? `  failed ${f.failed}` : ""}`,
        );
      }
    }
  }
  for (const c of contenders) await c.close();
  return runs;
};
