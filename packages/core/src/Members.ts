/**
 * The hosts a fleet's health monitor probes and what it knows of each. The
 * records are mutable and read synchronously: the router asks for a host's
 * health on every read, so they are plain objects. Both Effect lines keep
 * their table here.
 *
 * @since 0.2.0
 */
import * as Election from "./Election.js"
import * as HostState from "./HostState.js"
import * as Settings from "./Settings.js"

/**
 * What the table needs of a pool: its `host:port` (read live: the writer's
 * changes with a switch) and its address.
 *
 * @since 0.2.0
 * @category models
 */
export interface Pool {
  readonly host: string
  readonly address: Settings.HostAddress
}

/**
 * One probed host: a reader, a writer candidate, or both.
 *
 * @since 0.2.0
 * @category models
 */
export interface Member<P extends Pool> {
  readonly host: string
  readonly address: Settings.HostAddress
  /** The reader's pool, when the host is listed in `DB_READER_HOSTS`. */
  readonly reader: P | undefined
  readonly candidate: boolean
}

/**
 * The monitor's own record of one host; the service hands it out read-only as `HostHealth`.
 *
 * @since 0.2.0
 * @category models
 */
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

/**
 * What made a host suspect, for the `detected_by` tag when it goes down.
 *
 * @since 0.2.0
 * @category models
 */
export type DetectedBy = "probe" | "query"

/**
 * The role a member plays now; the writer's moves with every switch.
 *
 * @since 0.2.0
 * @category models
 */
export type Role = "writer" | "reader" | "candidate"

/**
 * The member table with each member's health record.
 *
 * @since 0.2.0
 * @category models
 */
export interface Members<P extends Pool> {
  /** The fleet's name (`DB_FLEET_NAME`), the `fleet` tag of every health metric. */
  readonly fleet: string
  readonly all: ReadonlyArray<Member<P>>
  /** The writer candidates, in `DB_WRITER_HOST` order. */
  readonly candidates: ReadonlyArray<Member<P>>
  readonly get: (host: string) => Member<P> | undefined
  readonly health: (m: Member<P>) => Health
  readonly healthOf: (host: string) => Health | undefined
  readonly isWriter: (m: Member<P>) => boolean
  readonly roleOf: (m: Member<P>) => Role
  /** The pool that serves the member now: the writer's while it is the writer, else its reader pool. */
  readonly poolOf: (m: Member<P>) => P | undefined
  readonly mismatch: (m: Member<P>, observed: Election.ObservedRole) => boolean
  /**
   * Whether the member's last answer fits the role it plays now, for
   * `pgfleet_host_up`: a listed replica promoted to writer is up as the
   * writer, though it has left reader routing.
   */
  readonly upInRole: (m: Member<P>) => boolean
  /**
   * The role whose `pgfleet_host_up` series the member is under now, and
   * the role it left since the last call, if it changed: that series is set
   * to 0, so a dashboard never shows a host up in a role it no longer has.
   */
  readonly upSeries: (m: Member<P>) => { readonly role: Role; readonly left: Role | undefined }
  /** After the writer moved, every member's role may have changed with it. */
  readonly refreshMismatch: () => void
  /** Moves the member's health state; returns the state before. */
  readonly apply: (m: Member<P>, input: HostState.Input) => HostState.HealthState
  /** Why each host in doubt became suspect; cleared by a good probe. */
  readonly suspectedBy: Map<string, DetectedBy>
}

/**
 * What the table reads of the settings.
 *
 * @since 0.2.0
 * @category models
 */
export interface TableSettings {
  readonly fleetName: string
  readonly writers: ReadonlyArray<Settings.HostAddress>
  readonly healthFailureThreshold: number
}

/** A host in both lists is one member: probed once, its reader pool kept. */
const membersOf = <P extends Pool>(settings: TableSettings, readers: ReadonlyArray<P>): ReadonlyArray<Member<P>> => {
  const members = new Map<string, Member<P>>()
  for (const address of settings.writers) {
    members.set(Settings.hostLabel(address), {
      host: Settings.hostLabel(address),
      address,
      reader: undefined,
      candidate: true
    })
  }
  for (const pool of readers) {
    const known = members.get(pool.host)
    members.set(pool.host, { host: pool.host, address: pool.address, reader: pool, candidate: known !== undefined })
  }
  return [...members.values()]
}

const initialHealth = <P extends Pool>(m: Member<P>, writerHost: string): Health => ({
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

/**
 * The table of a fleet's hosts; `writer` is read live, as its host changes
 * with a switch.
 *
 * @example
 * ```ts
 * import { Members } from "@pgfleet/core"
 *
 * const pool = (host: string, port: number) => ({ host: `${host}:${port}`, address: { host, port } })
 * const table = Members.make(
 *   { fleetName: "default", writers: [{ host: "db1", port: 5432 }], healthFailureThreshold: 3 },
 *   pool("db1", 5432),
 *   [pool("db2", 5432)]
 * )
 * const replica = table.get("db2:5432")!
 * table.apply(replica, "probe-failed") // "healthy", the state before
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = <P extends Pool>(
  settings: TableSettings,
  writer: P,
  readers: ReadonlyArray<P>
): Members<P> => {
  const all = membersOf(settings, readers)
  const byHost = new Map(all.map((m) => [m.host, m]))
  const records = new Map(all.map((m) => [m.host, initialHealth(m, writer.host)]))
  const health = (m: Member<P>) => records.get(m.host)!
  const isWriter = (m: Member<P>) => m.host === writer.host
  const mismatch = (m: Member<P>, observed: Election.ObservedRole) =>
    Election.mismatch({ reader: m.reader !== undefined, writer: isWriter(m) }, observed)
  const roleOf = (m: Member<P>): Role => isWriter(m) ? "writer" : m.reader !== undefined ? "reader" : "candidate"
  const upUnder = new Map<string, Role>()
  return {
    fleet: settings.fleetName,
    all,
    candidates: all.filter((m) => m.candidate),
    get: (host) => byHost.get(host),
    health,
    healthOf: (host) => records.get(host),
    isWriter,
    roleOf,
    poolOf: (m) => isWriter(m) ? writer : m.reader,
    mismatch,
    upInRole: (m) => isWriter(m) ? health(m).observedRole === "primary" : !mismatch(m, health(m).observedRole),
    upSeries: (m) => {
      const role = roleOf(m)
      const before = upUnder.get(m.host)
      upUnder.set(m.host, role)
      return { role, left: before === undefined || before === role ? undefined : before }
    },
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
