/**
 * Passive evidence: what a failed statement says about its host. It makes
 * the host suspect and asks for a probe at once; only probes mark a host
 * down, so one terminated backend costs one statement.
 */
import { Failure } from "@pgfleet/core"
import * as Effect from "effect/Effect"
import type { HostPool } from "../../HostPool.js"
import type { Member, Members } from "./members.js"

/** `wake` asks the member's probe fiber for a probe now. */
export const reportFailure =
  (members: Members, wake: (m: Member) => void) => (pool: HostPool, cause: unknown): Effect.Effect<void> =>
    Effect.suspend(() => {
      const m = members.get(pool.host)
      if (m === undefined) return Effect.void
      const failure = Failure.classify(cause)
      // A write refused as read-only: ask the writer's role now. The probe decides (25006 may also
      // come from a transaction the caller made read-only itself).
      if (failure.code === "25006" && members.isWriter(m)) {
        wake(m)
        return Effect.void
      }
      // Overload, statement errors and misconfigurations say nothing about the host.
      if (!Failure.isHostEvidence(failure.kind)) return Effect.void
      const s = members.health(m)
      const before = members.apply(m, "passive-failure")
      wake(m)
      if (before !== "healthy") return Effect.void
      s.lastError = Failure.describe(cause)
      members.suspectedBy.set(m.host, "query")
      return Effect.logInfo(`pgfleet: ${members.roleOf(m)} ${m.host} is suspect, probing it now`).pipe(
        Effect.annotateLogs({ host: m.host, role: members.roleOf(m), error: s.lastError })
      )
    })
