/**
 * `RoutedPool`: a `pg.Pool` whose queries go through the fleet's routing, health and retry, for
 * drizzle, Kysely and plain `pg`.
 */
import { Failure, PooledQuery } from "@pgfleet/core"
import pg from "pg"
import type { HostPool } from "../../HostPool.js"
import type { PostgresError } from "../../PostgresError.js"
import * as RoutedQuery from "../postgres/routedQuery.js"

type Callback = (error: Error | null, result?: pg.QueryResult) => void

/** What a routed pool needs from the fleet. */
export interface Route {
  /** `writer`, `reader` or a replica's `host:port`, for messages. */
  readonly name: string
  /** The statement path of `pg.writer` or `pg.reader` (routing, counters, health reports, errors). */
  readonly direct: RoutedQuery.Path
  /** The host a `connect()` pins: the writer, or a healthy replica picked by the router, passing over `exclude`. */
  readonly pick: (exclude: ReadonlyArray<string>) => HostPool | PostgresError
  /** Every pool behind this route, for counts and events. */
  readonly pools: () => ReadonlyArray<HostPool>
}

/**
 * One query through the route (see `RoutedQuery.run`). It fails with what
 * node-postgres code expects: pg's own error (with its SQLSTATE `code`) or
 * pgfleet's `PostgresError`.
 */
const routedQuery = (direct: RoutedQuery.Path, text: string, submit: PooledQuery.Submit, done: Callback): void =>
  void RoutedQuery.run(
    direct,
    "query",
    text,
    submit,
    undefined,
    undefined,
    asIs,
    (error, result) => done(error ?? null, result)
  )

/** pg's own errors, as node-postgres code expects them. */
const asIs: RoutedQuery.Wrap = (cause) => cause

/** Text or config, and values, handed to pg as the caller gave them, as pg-pool's own `query` does: no copy. */
const submitOf =
  (first: string | pg.QueryConfig, values: Array<unknown> | undefined): PooledQuery.Submit => (client, callback) =>
    client.query(first as string, values as Array<unknown>, callback)

const EVENTS = ["connect", "acquire", "release", "remove", "error"] as const

/**
 * node-postgres's `Pool` over a pgfleet route, for code that sits on `pg`
 * (drizzle, Kysely's `PostgresDialect`, `@prisma/adapter-pg`). It is a
 * `pg.Pool` (drizzle checks `instanceof`), but opens nothing itself:
 * `query` runs through the route (a replica picked per call, a failed read
 * retried elsewhere), `connect()` hands out a client of the host the route
 * picks, pinned for that client's life, and the counts and events are those
 * of the pools behind the route.
 */
export class RoutedPool extends pg.Pool {
  readonly #route: Route

  constructor(route: Route) {
    super({ max: 1 })
    this.#route = route
    // pg's counts are getters typed as fields: define them on the instance, over the pools behind the route.
    const sum = (count: (pool: pg.Pool) => number) => () => route.pools().reduce((n, p) => n + count(p.pgPool), 0)
    Object.defineProperties(this, {
      totalCount: { get: sum((p) => p.totalCount) },
      idleCount: { get: sum((p) => p.idleCount) },
      waitingCount: { get: sum((p) => p.waitingCount + PooledQuery.waitingBeyondPool(p)) },
      expiredCount: { get: () => 0 }
    })
    // Forward the events of the pools behind the route.
    for (const pool of route.pools()) {
      for (const event of EVENTS) {
        pool.pgPool.on(event, (...args: Array<unknown>) => {
          if (event !== "error" || this.listenerCount("error") > 0) this.emit(event, ...args)
        })
      }
    }
  }

  override query(...args: Array<any>): any {
    const callback: Callback | undefined = typeof args.at(-1) === "function" ? args.pop() : undefined
    const [first, values] = args as [string | pg.QueryConfig, Array<unknown> | undefined]
    const text = typeof first === "string" ? first : first.text
    const submit = submitOf(first, values)
    if (this.ended) {
      const ended = new Error(`pgfleet: the ${this.#route.name} pool has ended`)
      if (callback === undefined) return Promise.reject(ended)
      callback(ended)
      return undefined
    }
    const direct = this.#route.direct
    if (callback !== undefined) return routedQuery(direct, text, submit, callback)
    return new Promise((resolve, reject) =>
      routedQuery(direct, text, submit, (error, result) => error ? reject(error) : resolve(result))
    )
  }

  override connect(): Promise<pg.PoolClient>
  override connect(
    callback: (err: Error | undefined, client: pg.PoolClient | undefined, done: (release?: any) => void) => void
  ): void
  override connect(callback?: (err: Error | undefined, client: any, done: (release?: any) => void) => void): any {
    const promise = this.ended
      ? Promise.reject(new Error(`pgfleet: the ${this.#route.name} pool has ended`))
      : checkOut(this.#route, []).then(([pool, client]) => pinned(this.#route, pool, client))
    if (callback === undefined) return promise
    promise.then(
      (client) => callback(undefined, client, (release) => client.release(release)),
      (error) => callback(error, undefined, () => {})
    )
    return undefined
  }

  /** Ends this adapter only: later calls fail. The fleet's `close()` closes the connections. */
  override end(callback?: () => void): any {
    // pg sets these fields itself; they are read-only only in its types.
    Object.assign(this, { ending: true, ended: true })
    if (callback === undefined) return Promise.resolve()
    callback()
    return undefined
  }
}

/** A connection of the host the route picks; a host that refuses it is reported and passed over once. */
const checkOut = async (route: Route, exclude: ReadonlyArray<string>): Promise<[HostPool, pg.PoolClient]> => {
  const pool = route.pick(exclude)
  if (!("pgPool" in pool)) throw pool
  try {
    return [pool, await pool.pgPool.connect()]
  } catch (cause) {
    if (exclude.length > 0 || !Failure.isHostEvidence(Failure.classify(cause).kind)) throw cause
    route.direct.report(pool, cause)
    return checkOut(route, [pool.host])
  }
}

const inTransaction = (client: pg.PoolClient) => {
  const status = (client as unknown as { _txStatus?: string | null })._txStatus
  return status === "T" || status === "E"
}

/**
 * The client `connect()` hands out: one host's connection for the client's
 * life. Only when that host fails under a statement outside a transaction
 * (nothing would be lost) is the statement run once more on a new connection
 * of another host, which the client then keeps.
 */
const pinned = (route: Route, firstPool: HostPool, first: pg.PoolClient): pg.PoolClient => {
  let pool = firstPool
  let client = first
  // A checked-out client whose connection dies emits "error"; with no listener that would crash the process.
  const onError = (cause: Error) => route.direct.report(pool, cause)
  const hold = (c: pg.PoolClient) => c.on("error", onError)
  const letGo = (c: pg.PoolClient) => c.off("error", onError)
  hold(first)
  const release = (destroy?: Error | boolean) => {
    letGo(client)
    client.release(destroy)
  }
  const query = async (...args: Array<any>) => {
    const callback = typeof args.at(-1) === "function" ? args.pop() as Callback : undefined
    const run = async () => {
      const movable = !inTransaction(client)
      try {
        return await client.query(...(args as [any]))
      } catch (cause) {
        if (!movable || !Failure.isHostEvidence(Failure.classify(cause).kind)) throw cause
        route.direct.report(pool, cause)
        release(cause as Error)
        ;[pool, client] = await checkOut(route, [pool.host])
        hold(client)
        return client.query(...(args as [any]))
      }
    }
    if (callback === undefined) return run()
    run().then((result) => callback(null, result as pg.QueryResult), (error) => callback(error))
    return undefined
  }
  return new Proxy(first, {
    get(_, property) {
      if (property === "query") return query
      if (property === "release") return release
      const value = (client as any)[property]
      return typeof value === "function" ? value.bind(client) : value
    }
  })
}
