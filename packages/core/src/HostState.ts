/**
 * A host's health as a pure state machine.
 *
 * healthy ──(failed statement on a connection, or one failed probe)──► suspect
 * suspect ──(DB_HEALTH_FAILURE_THRESHOLD failed probes in a row)──► down
 * suspect, down ──(one good probe)──► healthy
 *
 * Only probes mark a host down: a statement's failure is evidence, and it
 * asks for a probe at once rather than deciding.
 *
 * @since 0.2.0
 */

/**
 * @since 0.2.0
 * @category models
 */
export type HealthState = "healthy" | "suspect" | "down"

/**
 * @since 0.2.0
 * @category models
 */
export interface Status {
  readonly state: HealthState
  readonly consecutiveFailures: number
}

/**
 * A snapshot of one host, as a fleet's `stats` reports it: pool counts and
 * what the health monitor knows.
 *
 * @since 0.2.0
 * @category models
 */
export interface HostStats {
  /** The fleet's name (`DB_FLEET_NAME`), so rows of several fleets can be told apart. */
  readonly fleet: string
  readonly host: string
  /** `writer` is the current primary; `candidate` another `DB_WRITER_HOST` entry that is not a reader. */
  readonly role: "writer" | "reader" | "candidate"
  /** Most connections its pool opens (`;max=N`, else `DB_MAX_POOL_SIZE`); 0 for a candidate, which has no pool. */
  readonly maxPoolSize: number
  /** A reader's share of reads against the others (`;weight=N`, else 1); `undefined` for the writer and candidates. */
  readonly weight: number | undefined
  readonly total: number
  readonly idle: number
  readonly inUse: number
  readonly waiting: number
  readonly health: HealthState
  readonly observedRole: "primary" | "standby" | "unknown"
  readonly roleMismatch: boolean
  readonly consecutiveFailures: number
  readonly lastProbeLatencyMs: number | undefined
  readonly lagBytes: number | undefined
  readonly lagSeconds: number | undefined
}

/**
 * @since 0.2.0
 * @category models
 */
export type Input = "probe-ok" | "probe-failed" | "passive-failure"

/**
 * @since 0.2.0
 * @category constants
 */
export const initial: Status = { state: "healthy", consecutiveFailures: 0 }

/**
 * The status after one input.
 *
 * @example
 * ```ts
 * import { HostState } from "@pgfleet/core"
 *
 * const once = HostState.next(HostState.initial, "probe-failed", 2) // suspect
 * const twice = HostState.next(once, "probe-failed", 2) // down
 * ```
 *
 * @since 0.2.0
 * @category transitions
 */
export const next = (status: Status, input: Input, threshold: number): Status => {
  switch (input) {
    case "probe-ok":
      return initial
    case "probe-failed": {
      const consecutiveFailures = status.consecutiveFailures + 1
      return { state: consecutiveFailures >= threshold ? "down" : "suspect", consecutiveFailures }
    }
    case "passive-failure":
      return status.state === "healthy" ? { state: "suspect", consecutiveFailures: status.consecutiveFailures } : status
  }
}

/**
 * Milliseconds until the next probe: the interval while healthy; while
 * suspect or down, a backoff from the retry base, capped by the interval, so
 * a host in doubt is settled fast and a returning one is seen within one interval.
 *
 * @since 0.2.0
 * @category transitions
 */
export const probeDelayMillis = (status: Status, intervalMs: number, retryBaseMs: number): number =>
  status.state === "healthy"
    ? intervalMs
    : Math.min(intervalMs, retryBaseMs * 2 ** Math.min(20, Math.max(0, status.consecutiveFailures - 1)))

/**
 * The longest a host that stops answering can go unnoticed, in milliseconds:
 * one interval until the next probe, then `threshold` probes that each time
 * out, with the re-probe backoff between them.
 *
 * @example
 * ```ts
 * import { HostState } from "@pgfleet/core"
 *
 * HostState.detectionMillis({ intervalMs: 1000, timeoutMs: 1000, threshold: 2, retryBaseMs: 100 }) // 3100
 * ```
 *
 * @since 0.2.0
 * @category utils
 */
export const detectionMillis = (probes: {
  readonly intervalMs: number
  readonly timeoutMs: number
  readonly threshold: number
  readonly retryBaseMs: number
}): number => {
  let ms = probes.intervalMs + probes.threshold * probes.timeoutMs
  for (let failures = 1; failures < probes.threshold; failures++) {
    ms += probeDelayMillis({ state: "suspect", consecutiveFailures: failures }, probes.intervalMs, probes.retryBaseMs)
  }
  return ms
}
