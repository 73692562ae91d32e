/**
 * Runs core's election after each probe of a writer candidate and acts on
 * it: announces a split brain once, and moves writes in a fiber of its own,
 * one switch at a time, so probes go on while the new pool warms.
 */
import { Election } from "@pgfleet/core"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type * as WriterPool from "../../WriterPool.js"
import type { Member, Members } from "./members.js"
import * as Metrics from "./metrics.js"

/** The election's state, and the step each candidate's probe fiber runs. */
export interface Elector {
  readonly elect: Effect.Effect<void, never, Scope.Scope>
  /** The candidates that answer as primaries while there is more than one. */
  readonly splitBrain: () => ReadonlyArray<string> | undefined
}

const candidatesOf = (members: Members): ReadonlyArray<Election.Candidate> =>
  members.candidates.map((m) => {
    const s = members.health(m)
    return { host: m.host, state: s.state, consecutiveFailures: s.consecutiveFailures, observedRole: s.observedRole }
  })

const announce = (split: ReadonlyArray<string>) =>
  Effect.logError(`pgfleet: split brain: ${split.join(" and ")} both answer as primary; writes are refused`)
    .pipe(Effect.annotateLogs({ primaries: split.join(",") }))

export const make = (members: Members, writer: WriterPool.Service): Elector => {
  let splitBrain: ReadonlyArray<string> | undefined
  /** Since when the writer has been down or a standby: the switch reports how long writes were stuck. */
  let writerTroubleSince: number | undefined
  let switching = false

  const moved = (from: string, target: Member) =>
    Effect.suspend(() => {
      const tookMs = Date.now() - (writerTroubleSince ?? Date.now())
      writerTroubleSince = undefined
      members.refreshMismatch()
      return Effect.andThen(
        Metrics.writerChanged(members),
        Effect.logWarning(`pgfleet: writer moved from ${from} to ${target.host} after ${tookMs} ms`).pipe(
          Effect.annotateLogs({ from, to: target.host, ms: tookMs })
        )
      )
    })

  const switchTo = (target: Member) => {
    const from = writer.host
    return writer.switchTo(target.address).pipe(
      Effect.andThen(moved(from, target)),
      Effect.catch((error) =>
        Effect.logWarning(`pgfleet: could not move writes to ${target.host}; will try again`).pipe(
          Effect.annotateLogs({ error: error.message })
        )
      ),
      Effect.ensuring(Effect.sync(() => (switching = false)))
    )
  }

  const elect = Effect.suspend(() => {
    // A single candidate has nowhere to move writes and no one to disagree with.
    if (members.candidates.length < 2) return Effect.void
    const decision = Election.decide({ candidates: candidatesOf(members), writer: writer.host, splitBrain })
    const announced = decision.announce && decision.splitBrain !== undefined
      ? announce(decision.splitBrain)
      : Effect.void
    splitBrain = decision.splitBrain
    if (decision.troubled) writerTroubleSince ??= Date.now()
    else writerTroubleSince = undefined
    if (decision.target === undefined || switching) return announced
    switching = true
    return Effect.andThen(announced, Effect.forkScoped(switchTo(members.get(decision.target)!)))
  })

  return { elect, splitBrain: () => splitBrain }
}
