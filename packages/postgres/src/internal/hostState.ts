/**
 * A host's health as a pure state machine.
 *
 * healthy ──(failed statement on a connection, or one failed probe)──► suspect
 * suspect ──(DB_HEALTH_FAILURE_THRESHOLD failed probes in a row)──► down
 * suspect, down ──(one good probe)──► healthy
 *
 * Only probes mark a host down: a statement's failure is evidence, and it
 * asks for a probe at once rather than deciding.
 */
export type HealthState = "healthy" | "suspect" | "down"

export interface Status {
  readonly state: HealthState
  readonly consecutiveFailures: number
}

export type Input = "probe-ok" | "probe-failed" | "passive-failure"

export const initial: Status = { state: "healthy", consecutiveFailures: 0 }

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
 */
export const probeDelayMillis = (status: Status, intervalMs: number, retryBaseMs: number): number =>
  status.state === "healthy"
    ? intervalMs
    : Math.min(intervalMs, retryBaseMs * 2 ** Math.min(20, Math.max(0, status.consecutiveFailures - 1)))
