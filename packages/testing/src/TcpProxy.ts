/**
 * A small TCP proxy for fault tests: it forwards to a target, refuses
 * connections, or swallows all traffic (a host that accepts TCP and never
 * answers).
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as net from "node:net"
import type { HostPort } from "./internal/cluster.js"

/**
 * @since 0.1.0
 * @category models
 */
export type Mode = "forward" | "refuse" | "blackhole"

/**
 * @since 0.1.0
 * @category models
 */
export interface TcpProxy {
  readonly host: string
  readonly port: number
  /** Switches mode. `refuse` and leaving `blackhole` close the connections open now. */
  readonly setMode: (mode: Mode) => Effect.Effect<void>
  readonly mode: () => Mode
  /** Points new connections at `target` and closes the open ones: an address that moved (a DNS or VIP flip). */
  readonly retarget: (target: HostPort) => Effect.Effect<void>
}

interface Pair {
  readonly client: net.Socket
  readonly upstream: net.Socket
  /** True once traffic was dropped: the byte stream is broken and cannot be forwarded again. */
  tainted: boolean
}

/**
 * Listens on a free loopback port in front of `target`; closed with the scope.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { TcpProxy } from "@pgfleet/testing"
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const proxy = yield* TcpProxy.make({ host: "127.0.0.1", port: 5432 })
 *   yield* proxy.setMode("blackhole")
 * }))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (initialTarget: HostPort): Effect.Effect<TcpProxy, never, Scope.Scope> =>
  Effect.gen(function*() {
    let mode: Mode = "forward"
    let target = initialTarget
    const pairs = new Set<Pair>()
    const server = net.createServer((client) => {
      const upstream = net.connect(target.port, target.host)
      const pair: Pair = { client, upstream, tainted: false }
      pairs.add(pair)
      const relay = (from: net.Socket, to: net.Socket) =>
        from.on("data", (chunk) => {
          if (mode === "forward" && !pair.tainted) to.write(chunk)
          else pair.tainted = true
        })
      relay(client, upstream)
      relay(upstream, client)
      const close = () => {
        pairs.delete(pair)
        client.destroy()
        upstream.destroy()
      }
      for (const socket of [client, upstream]) {
        socket.on("error", close)
        socket.on("close", close)
      }
    })
    const closeAll = () => {
      for (const pair of pairs) {
        pair.client.destroy()
        pair.upstream.destroy()
      }
      pairs.clear()
    }
    const listen = (port: number) =>
      Effect.async<number>((resume) => {
        server.listen(port, "127.0.0.1", () => resume(Effect.succeed((server.address() as net.AddressInfo).port)))
      })
    const port = yield* listen(0)
    yield* Effect.addFinalizer(() =>
      Effect.async<void>((resume) => {
        closeAll()
        if (server.listening) server.close(() => resume(Effect.void))
        else resume(Effect.void)
      })
    )

    const setMode = (next: Mode) =>
      Effect.gen(function*() {
        const previous = mode
        mode = next
        if (next === "refuse") {
          closeAll()
          if (server.listening) yield* Effect.async<void>((resume) => void server.close(() => resume(Effect.void)))
        } else {
          if (previous === "blackhole") closeAll()
          if (!server.listening) yield* listen(port)
        }
      })
    const retarget = (next: HostPort) =>
      Effect.sync(() => {
        target = next
        closeAll()
      })
    return { host: "127.0.0.1", port, setMode, mode: () => mode, retarget }
  })
