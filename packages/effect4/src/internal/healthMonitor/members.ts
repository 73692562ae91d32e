/**
 * The hosts the health monitor probes and what it knows of each. The
 * records are mutable and read synchronously: the router asks for a host's
 * health on every read, so they are plain objects, not effects.
 */
import { Election, HostState } from "@pgfleet/core"
import type { HostPool } from "../../HostPool.js"
import type { HostAddress, PostgresSettings } from "../../PostgresConfig.js"
import { hostLabel } from "../../PostgresConfig.js"
import type * as WriterPool from "../../WriterPool.js"

/** One probed host: a reader, a writer candidate, or both. */
export interface Member {
  readonly host: string
  readonly address: HostAddress
  /** The reader's pool, when the host is listed in `DB_READER_HOSTS`. */
  readonly reader: HostPool | undefined
  readonly candidate: boolean
}

/** The monitor's own record of one host; the service hands it out read-only as `HostHealth`. */
export interface Health {
  state: HostState.HealthState
  observedRole: Election.ObservedRole
  roleMismatch: boolean
  consecutiveFailures: number
  lastProbeLatencyMs: number | undefined
  lagBytes: number | undefined
  lagSeconds: number | undefined
  walLsn: bigint | undefined
  lastError: string | undefined
}

/** What made a host suspect, for the `detected_by` tag when it goes down. */
export type DetectedBy = "probe" | "query"

/** The role a member plays now; the writer's moves with every switch. */
export type Role = "writer" | "reader" | "candidate"

/** The member table with each member's health record. */
export interface Members {
  /** The fleet's name (`DB_FLEET_NAME`), the `fleet` attribute of every health metric. */
  readonly fleet: string
  readonly all: ReadonlyArray<Member>
  /** The writer candidates, in `DB_WRITER_HOST` order. */
  readonly candidates: ReadonlyArray<Member>
  readonly get: (host: string) => Member | undefined
  readonly health: (m: Member) => Health
  readonly healthOf: (host: string) => Health | undefined
  readonly isWriter: (m: Member) => boolean
  readonly roleOf: (m: Member) => Role
  /** The pool that serves the member now: the writer's while it is the writer, else its reader pool. */
  readonly poolOf: (m: Member) => HostPool | undefined
  readonly mismatch: (m: Member, observed: Election.ObservedRole) => boolean
  /** After the writer moved, every member's role may have changed with it. */
  readonly refreshMismatch: () => void
  /** Moves the member's health state; returns the state before. */
  readonly apply: (m: Member, input: HostState.Input) => HostState.HealthState
  /** Why each host in doubt became suspect; cleared by a good probe. */
  readonly suspectedBy: Map<string, DetectedBy>
}

/** A host in both lists is one member: probed once, its reader pool kept. */
export const membersOf = (settings: PostgresSettings, readers: ReadonlyArray<HostPool>): ReadonlyArray<Member> => {
  const members = new Map<string, Member>()
  for (const address of settings.writers) {
    members.set(hostLabel(address), { host: hostLabel(address), address, reader: undefined, candidate: true })
  }
  for (const pool of readers) {
    const known = members.get(pool.host)
    members.set(pool.host, { host: pool.host, address: pool.address, reader: pool, candidate: known !== undefined })
  }
  return [...members.values()]
}

const initialHealth = (m: Member, writerHost: string): Health => ({
  state: HostState.initial.state,
  observedRole: m.host === writerHost ? "primary" : m.reader ? "standby" : "unknown",
  roleMismatch: false,
  consecutiveFailures: 0,
  lastProbeLatencyMs: undefined,
  lagBytes: undefined,
  lagSeconds: undefined,
  walLsn: undefined,
  lastError: undefined
})

/** The table; `writer` is read live, as its host changes with a switch. */
export const make = (
  settings: PostgresSettings,
  writer: WriterPool.Service,
  readers: ReadonlyArray<HostPool>
): Members => {
  const all = membersOf(settings, readers)
  const byHost = new Map(all.map((m) => [m.host, m]))
  const records = new Map(all.map((m) => [m.host, initialHealth(m, writer.host)]))
  const health = (m: Member) => records.get(m.host)!
  const isWriter = (m: Member) => m.host === writer.host
  const mismatch = (m: Member, observed: Election.ObservedRole) =>
    Election.mismatch({ reader: m.reader !== undefined, writer: isWriter(m) }, observed)
  return {
    fleet: settings.fleetName,
    all,
    candidates: all.filter((m) => m.candidate),
    get: (host) => byHost.get(host),
    health,
    healthOf: (host) => records.get(host),
    isWriter,
    roleOf: (m) => isWriter(m) ? "writer" : m.reader !== undefined ? "reader" : "candidate",
    poolOf: (m) => isWriter(m) ? writer : m.reader,
    mismatch,
    refreshMismatch: () => {
      for (const m of all) health(m).roleMismatch = mismatch(m, health(m).observedRole)
    },
    apply: (m, input) => {
      const s = health(m)
      const before = s.state
      const after = HostState.next(s, input, settings.healthFailureThreshold)
      s.state = after.state
      s.consecutiveFailures = after.consecutiveFailures
      return before
    },
    suspectedBy: new Map()
  }
}
