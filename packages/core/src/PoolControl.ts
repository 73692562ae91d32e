/**
 * Controls over a node-postgres pool that pg-pool does not offer: warming N
 * connections at once, answering a dead connection's waits, and emptying a
 * pool without ending it (a host that stopped answering, a name that now
 * resolves elsewhere). Both Effect lines' host pools run on them.
 *
 * @since 0.2.0
 */
import pg from "pg"
import * as Connection from "./Connection.js"
import type { PoolInternals } from "./internal/lane.js"
import * as PooledQuery from "./PooledQuery.js"

/**
 * What warming saw: the role, and under `verify` each warm connection's `statement_timeout`.
 *
 * @since 0.2.0
 * @category models
 */
export interface Warmed {
  readonly standby: boolean
  readonly timeouts: ReadonlyArray<Connection.StatementTimeoutRow>
}

/**
 * Checks out `n` connections at once (pg's `min` opens none by itself), asks
 * the role and, with `verify`, every one's `statement_timeout` (behind a
 * transaction-pooling bouncer, connections held at once are lent different
 * server connections), then releases them; after a failure, destroys them.
 *
 * @example
 * ```ts
 * import { PoolControl } from "@pgfleet/core"
 * import pg from "pg"
 *
 * export const warmed = (pool: pg.Pool) => PoolControl.warm(pool, 4, false).then((w) => w.standby)
 * ```
 *
 * @since 0.2.0
 * @category running
 */
export const warm = async (pool: pg.Pool, n: number, verify: boolean): Promise<Warmed> => {
  const results = await Promise.allSettled(Array.from({ length: n }, () => pool.connect()))
  const clients = results.flatMap((r) => r.status === "fulfilled" ? [r.value] : [])
  const failure = results.find((r) => r.status === "rejected")
  try {
    if (failure) throw failure.reason
    const { rows } = await clients[0]!.query<{ standby: boolean }>("SELECT pg_is_in_recovery() AS standby")
    const timeouts = verify
      ? await Promise.all(clients.map((c) => c.query<Connection.StatementTimeoutRow>(Connection.STATEMENT_TIMEOUT_SQL)))
      : []
    return { standby: rows[0]!.standby, timeouts: timeouts.map((r) => r.rows[0]!) }
  } finally {
    for (const client of clients) client.release(failure !== undefined)
  }
}

/** The part of pg's `Connection` that {@link answerWhenDead} patches. */
interface WireConnection {
  once(event: string, listener: (...args: Array<unknown>) => void): WireConnection
}

/**
 * pg-cursor's `close()` (run by every stream's finalizer) waits for a
 * `readyForQuery` that a dead connection never sends, so a stream whose
 * connection dropped would never finish. Once the client's connection has
 * ended, that wait is answered at once.
 *
 * @example
 * ```ts
 * import { PoolControl } from "@pgfleet/core"
 * import pg from "pg"
 *
 * export class Client extends pg.Client {
 *   constructor(config?: pg.ClientConfig) {
 *     super(config)
 *     PoolControl.answerWhenDead(this)
 *   }
 * }
 * ```
 *
 * @since 0.2.0
 * @category pools
 */
export const answerWhenDead = (client: pg.Client): void => {
  const connection = (client as unknown as { connection: WireConnection }).connection
  let ended = false
  const once = connection.once.bind(connection)
  once("end", () => (ended = true))
  connection.once = (event: string, listener: (...args: Array<unknown>) => void) => {
    if (ended && event === "readyForQuery") setImmediate(listener)
    else once(event, listener)
    return connection
  }
}

/**
 * Closes the sockets of checked-out clients. Their owners see the error and
 * release them, so the pool drops them; releasing them here instead would
 * race the owners' own release.
 *
 * @example
 * ```ts
 * import { PoolControl } from "@pgfleet/core"
 * import type pg from "pg"
 *
 * export const dropAll = (pool: pg.Pool) => PoolControl.destroyAll(PoolControl.checkedOut(pool))
 * ```
 *
 * @since 0.2.0
 * @category pools
 */
export const destroyAll = (clients: Iterable<pg.PoolClient>): void => {
  for (const c of clients) Connection.destroySocket(c)
}

/**
 * The pool's connections lent out now: connected, and not idle. Read from
 * pg-pool's own lists when asked, so no statement pays to keep a set of
 * them (its `acquire` and `release` events ran on every checkout).
 *
 * @example
 * ```ts
 * import { PoolControl } from "@pgfleet/core"
 * import pg from "pg"
 *
 * const pool = new pg.Pool({ host: "127.0.0.1", max: 4 })
 * console.log(PoolControl.checkedOut(pool).length) // 0
 * ```
 *
 * @since 0.2.0
 * @category pools
 */
export const checkedOut = (pool: pg.Pool): Array<pg.PoolClient> => {
  const internals = pool as unknown as PoolInternals
  if (internals._clients.length === internals._idle.length) return []
  const idle = new Set(internals._idle.map((item) => item.client))
  return internals._clients.filter((client) =>
    !idle.has(client) && typeof (client as unknown as { processID: unknown }).processID === "number"
  )
}

/**
 * The host stopped answering: callers waiting for a connection fail with
 * `error` (never sent), running statements get a cancel request, and every
 * connection, pooled or `others`, is destroyed. The pool stays open and
 * connects again on the next checkout.
 *
 * @example
 * ```ts
 * import { PoolControl } from "@pgfleet/core"
 * import type pg from "pg"
 *
 * export const giveUp = (pool: pg.Pool) =>
 *   PoolControl.abandon(pool, PoolControl.checkedOut(pool), new Set(), new Error("db1:5432 stopped answering"))
 * ```
 *
 * @since 0.2.0
 * @category pools
 */
export const abandon = (
  pool: pg.Pool,
  checkedOut: Iterable<pg.PoolClient>,
  others: ReadonlySet<pg.Client>,
  error: Error
): void => {
  const internals = pool as unknown as PoolInternals
  // Waiters first: a destroyed connection frees its slot, and pg-pool would open a new one for the next waiter.
  const waiting = internals._pendingQueue.splice(0)
  for (const waiter of waiting) waiter.callback(error)
  PooledQuery.failWaiting(pool, error)
  // A frozen server reads these from its backlog when it wakes, so its backends stop what we gave up on
  // (a backend busy in a statement does not notice that its client went away).
  for (const client of checkedOut) Connection.sendCancel(pool.options, client)
  destroyAll([...internals._clients])
  for (const client of others) Connection.destroySocket(client)
}

/**
 * Drops every pooled connection: idle ones now, checked-out ones when
 * released, so new connections resolve the host name again. pg-pool removes
 * a client at release once it reached `maxUses`, and `_remove` drops an idle
 * one: internals, but the only way to empty a `pg.Pool` without ending it.
 *
 * @example
 * ```ts
 * import { PoolControl } from "@pgfleet/core"
 * import type pg from "pg"
 *
 * export const afterDnsFlip = (pool: pg.Pool) => PoolControl.recycle(pool, PoolControl.checkedOut(pool))
 * ```
 *
 * @since 0.2.0
 * @category pools
 */
export const recycle = (pool: pg.Pool, checkedOut: Iterable<pg.PoolClient>): void => {
  for (const client of checkedOut) (client as unknown as { _poolUseCount: number })._poolUseCount = Infinity
  const internals = pool as unknown as PoolInternals
  for (const idle of [...internals._idle]) internals._remove(idle.client)
}

/**
 * What a host pool keeps of its connections: the ones checked out now (for
 * {@link destroyAll}, {@link abandon} and {@link recycle}), and the ones of
 * ours to the same host outside the pool (`listen`), each forgotten when it
 * ends.
 *
 * @since 0.2.0
 * @category models
 */
export interface Tracked {
  /** {@link checkedOut} of the pool, now. */
  readonly checkedOut: () => ReadonlyArray<pg.PoolClient>
  readonly others: Set<pg.Client>
  /** A new, unconnected client with `config`, outside the pool, kept in `others` until it ends. */
  readonly newClient: () => pg.Client
  /** {@link destroyAll} of the connections checked out now. */
  readonly dropCheckedOut: () => void
  /** {@link abandon} of the pool, its checked-out connections and the clients outside it, answering waits with `error`. */
  readonly abandon: (error: Error) => void
  /** {@link recycle} of the pool. */
  readonly recycle: () => void
}

/**
 * Why a statement that waited on a host the probes gave up failed, for
 * {@link Tracked.abandon}'s error.
 *
 * @since 0.2.0
 * @category pools
 */
export const abandonedMessage = (host: string): string =>
  `${host} stopped answering (its health probes marked it down); the statement was never sent`

/**
 * Starts keeping `pool`'s checked-out connections, and the clients made
 * outside it with `config`.
 *
 * @example
 * ```ts
 * import { PoolControl } from "@pgfleet/core"
 * import pg from "pg"
 *
 * const config = { host: "127.0.0.1", port: 5432 }
 * const pool = new pg.Pool(config)
 * const tracked = PoolControl.track(pool, config)
 * const listener = tracked.newClient() // destroyed with the pool's own by `abandon`
 * console.log(tracked.checkedOut().length, tracked.others.has(listener)) // 0 true
 * ```
 *
 * @since 0.2.0
 * @category pools
 */
export const track = (pool: pg.Pool, config: pg.ClientConfig): Tracked => {
  const others = new Set<pg.Client>()
  return {
    checkedOut: () => checkedOut(pool),
    others,
    newClient: () => {
      const other = new pg.Client(config)
      others.add(other)
      other.once("end", () => others.delete(other))
      return other
    },
    dropCheckedOut: () => destroyAll(checkedOut(pool)),
    abandon: (error) => abandon(pool, checkedOut(pool), others, error),
    recycle: () => recycle(pool, checkedOut(pool))
  }
}
