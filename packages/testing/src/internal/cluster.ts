import { execFileSync, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import pg from "pg"
import * as selfsigned from "selfsigned"
import { binaries } from "./binaries.js"
import { run } from "./exec.js"
import type { ServerUser } from "./osUser.js"
import { serverUser } from "./osUser.js"
import { type BouncerOptions, killBouncerIn, pgbouncerBinary, RunningBouncer } from "./pgbouncer.js"
import { freePort } from "./ports.js"

export interface HostPort {
  readonly host: string
  readonly port: number
}

export type StopMode = "fast" | "immediate"

/** Which server an operation is aimed at: the writer, or reader `i`. */
export type Member = "writer" | number

export interface ClusterOptions {
  readonly replicas?: number | undefined
  readonly database?: string | undefined
  readonly username?: string | undefined
  readonly password?: string | undefined
  /** Serve TLS with a fresh self-signed certificate for 127.0.0.1 and localhost. */
  readonly tls?: boolean | undefined
  /** Extra `postgresql.conf` lines for every server. */
  readonly serverSettings?: Readonly<Record<string, string | number>> | undefined
  /**
   * A PgBouncer in front of every server (transaction pooling unless told
   * otherwise): `writer`, `readers` and `env` then name the bouncers, and
   * `servers` the servers behind them.
   */
  readonly bouncers?: boolean | BouncerOptions | undefined
}

interface Node {
  readonly name: string
  readonly dataDir: string
  readonly port: number
  running: boolean
  paused: boolean
  /** Stopped with SIGSTOP: every process of the server, postmaster first. */
  frozen: ReadonlyArray<number> | undefined
}

/** The postmaster's pid, from the first line of `postmaster.pid`. */
const postmasterPid = (dataDir: string): number =>
  Number(fs.readFileSync(path.join(dataDir, "postmaster.pid"), "utf8").split("\n")[0])

/** `pid` and every process below it, parents before children, read from `/proc`. */
const processTree = (pid: number): Array<number> => {
  const children = new Map<number, Array<number>>()
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue
    try {
      // The fields after the command name, which may hold spaces and parentheses.
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8")
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1])
      const list = children.get(ppid) ?? []
      list.push(Number(entry))
      children.set(ppid, list)
    } catch {
      // The process ended while we read.
    }
  }
  const tree = [pid]
  for (let i = 0; i < tree.length; i++) tree.push(...(children.get(tree[i]!) ?? []))
  return tree
}

const signalAll = (pids: ReadonlyArray<number>, signal: NodeJS.Signals) => {
  for (const pid of pids) {
    try {
      process.kill(pid, signal)
    } catch {
      // Already gone.
    }
  }
}

const DIR_PREFIX = "pgfleet-cluster-"
const HOST = "127.0.0.1"
const live = new Set<RunningCluster>()

/** A quoted `postgresql.conf` value. */
const confString = (value: string) => `'${value.replace(/\\/g, "\\\\").replace(/'/g, "''")}'`
/** A quoted libpq connection-string value. */
const conninfoValue = (value: string) => `'${value.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`

const confLines = (settings: Readonly<Record<string, string | number>>) =>
  Object.entries(settings).map(([k, v]) => `${k} = ${typeof v === "number" ? v : confString(v)}`).join("\n") + "\n"

const baseSettings = (socketDir: string): Record<string, string | number> => ({
  listen_addresses: HOST,
  unix_socket_directories: socketDir,
  max_connections: 200,
  shared_buffers: "32MB",
  // Throwaway clusters: durability buys nothing and costs seconds.
  fsync: "off",
  full_page_writes: "off",
  wal_keep_size: "1GB",
  max_wal_senders: 16,
  hot_standby: "on",
  hot_standby_feedback: "on",
  wal_receiver_status_interval: "1s",
  wal_retrieve_retry_interval: "200ms",
  password_encryption: "scram-sha-256",
  log_min_messages: "warning",
  log_connections: "off"
})

/** A self-signed certificate in the data directory (copied to every replica), trusted by `caFile`. */
const writeCertificate = async (dataDir: string, caFile: string, user: ServerUser | undefined) => {
  const pems = await selfsigned.generate([{ name: "commonName", value: "localhost" }], {
    keyType: "ec",
    extensions: [{ name: "subjectAltName", altNames: [{ type: 2, value: "localhost" }, { type: 7, ip: HOST }] }]
  })
  fs.writeFileSync(path.join(dataDir, "server.crt"), pems.cert)
  fs.writeFileSync(path.join(dataDir, "server.key"), pems.private, { mode: 0o600 })
  if (user) { for (const f of ["server.crt", "server.key"]) fs.chownSync(path.join(dataDir, f), user.uid, user.gid) }
  fs.writeFileSync(caFile, pems.cert)
  return { ssl: "on" }
}

/** Stops the servers of clusters whose owning process died without cleaning up. */
const reapOrphans = () => {
  const tmp = os.tmpdir()
  for (const entry of fs.readdirSync(tmp)) {
    if (!entry.startsWith(DIR_PREFIX)) continue
    const dir = path.join(tmp, entry)
    let owner: number
    try {
      owner = Number(fs.readFileSync(path.join(dir, "owner.pid"), "utf8"))
    } catch {
      continue
    }
    try {
      process.kill(owner, 0)
      continue
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ESRCH") continue
    }
    killServersIn(dir)
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

/** SIGKILL to every bouncer and SIGQUIT (immediate shutdown) to every postmaster under `dir`. */
const killServersIn = (dir: string) => {
  const bouncers = path.join(dir, "bouncer")
  for (const name of fs.existsSync(bouncers) ? fs.readdirSync(bouncers) : []) killBouncerIn(path.join(bouncers, name))
  for (const name of fs.existsSync(path.join(dir, "data")) ? fs.readdirSync(path.join(dir, "data")) : []) {
    try {
      const pid = postmasterPid(path.join(dir, "data", name))
      if (pid > 0) {
        // A frozen server cannot act on SIGQUIT.
        signalAll(processTree(pid), "SIGCONT")
        process.kill(pid, "SIGQUIT")
      }
    } catch {
      // not running
    }
  }
}

process.once("exit", () => {
  for (const cluster of live) cluster.stopSync()
})

/** A running primary with streaming hot standbys. See `TestCluster` for the Effect API. */
export class RunningCluster {
  readonly writer: HostPort
  readonly readers: ReadonlyArray<HostPort>
  /** The servers themselves: the same as `writer` and `readers` unless bouncers stand in front. */
  readonly servers: { readonly writer: HostPort; readonly readers: ReadonlyArray<HostPort> }
  readonly env: Readonly<Record<string, string>>
  /** With `tls`, the PEM file that verifies every server's certificate. */
  readonly tlsCaFile: string
  readonly #nodes: ReadonlyArray<Node>
  /** With `bouncers`: one per node, in the same order, once started. */
  readonly #bouncers: Array<RunningBouncer> = []

  private constructor(
    readonly dir: string,
    readonly database: string,
    readonly username: string,
    private readonly pgCtl: string,
    nodes: ReadonlyArray<Node>,
    password: string,
    tls: boolean,
    /** Ports of the bouncers in front of the nodes, in the same order. */
    fronts: ReadonlyArray<number> | undefined
  ) {
    this.#nodes = nodes
    const ports = fronts ?? nodes.map((n) => n.port)
    this.servers = {
      writer: { host: HOST, port: nodes[0]!.port },
      readers: nodes.slice(1).map((n) => ({ host: HOST, port: n.port }))
    }
    this.writer = { host: HOST, port: ports[0]! }
    this.readers = ports.slice(1).map((port) => ({ host: HOST, port }))
    this.tlsCaFile = path.join(dir, "ca.pem")
    this.env = {
      ...(tls ? { DB_SSL_MODE: "verify-full", DB_SSL_CA_FILE: this.tlsCaFile } : {}),
      DB_WRITER_HOST: HOST,
      DB_PORT: String(this.writer.port),
      DB_READER_HOSTS: this.readers.map((r) => `${r.host}:${r.port}`).join(","),
      DB_NAME: database,
      DB_USERNAME: username,
      DB_PASSWORD: password
    }
  }

  static async start(options: ClusterOptions = {}): Promise<RunningCluster> {
    const replicas = options.replicas ?? 2
    const database = options.database ?? "pgfleet"
    const username = options.username ?? "pgfleet"
    const password = options.password ?? "pgfleet"
    if (!Number.isInteger(replicas) || replicas < 0) {
      throw new Error(`replicas must be a whole number >= 0, got ${replicas}`)
    }
    if (password.includes("\n")) throw new Error("password must not contain a line break")

    const bouncers = options.bouncers === true ? {} : options.bouncers === false ? undefined : options.bouncers
    // Before any server starts: a missing pgbouncer is an install step to name, not a teardown.
    if (bouncers) pgbouncerBinary()
    const user = serverUser()
    const bin = await binaries(user)
    try {
      reapOrphans()
    } catch {
      // best effort
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), DIR_PREFIX))
    fs.writeFileSync(path.join(dir, "owner.pid"), String(process.pid))
    const socketDir = path.join(dir, "sock")
    const dataRoot = path.join(dir, "data")
    fs.mkdirSync(socketDir)
    fs.mkdirSync(dataRoot)
    fs.mkdirSync(path.join(dir, "log"))
    if (user) execFileSync("chown", ["-R", `${user.uid}:${user.gid}`, dir])

    const primaryDir = path.join(dataRoot, "writer")
    const ports = await Promise.all(Array.from({ length: replicas + 1 }, freePort))
    const fronts = bouncers && await Promise.all(Array.from({ length: replicas + 1 }, freePort))
    const nodes: Array<Node> = ports.map((port, i) => ({
      name: i === 0 ? "writer" : `reader${i - 1}`,
      dataDir: i === 0 ? primaryDir : path.join(dataRoot, `reader${i - 1}`),
      port,
      running: false,
      paused: false,
      frozen: undefined
    }))
    const cluster = new RunningCluster(
      dir,
      database,
      username,
      bin.pg_ctl,
      nodes,
      password,
      options.tls === true,
      fronts
    )
    live.add(cluster)
    try {
      const pwfile = path.join(dir, "pwfile")
      fs.writeFileSync(pwfile, password + "\n", { mode: 0o600 })
      if (user) fs.chownSync(pwfile, user.uid, user.gid)
      await run(bin.initdb, [
        "-D",
        primaryDir,
        "-U",
        username,
        `--pwfile=${pwfile}`,
        "--auth-local=trust",
        "--auth-host=scram-sha-256",
        "-E",
        "UTF8",
        "--locale=C",
        "--no-sync",
        "--no-instructions"
      ], user)
      fs.rmSync(pwfile)

      const tls = options.tls ? await writeCertificate(primaryDir, cluster.tlsCaFile, user) : {}
      const shared = { ...baseSettings(socketDir), ...tls, ...options.serverSettings }
      fs.appendFileSync(path.join(primaryDir, "postgresql.conf"), confLines({ ...shared, port: ports[0]! }))
      // A copy of the primary taken before its first start is a valid base backup.
      for (const [i, node] of nodes.slice(1).entries()) {
        execFileSync("cp", ["-a", primaryDir, node.dataDir])
        const conninfo = `host=${conninfoValue(socketDir)} port=${ports[0]} user=${
          conninfoValue(username)
        } application_name=${node.name}`
        fs.appendFileSync(
          path.join(node.dataDir, "postgresql.conf"),
          confLines({ port: ports[i + 1]!, primary_conninfo: conninfo })
        )
        fs.writeFileSync(path.join(node.dataDir, "standby.signal"), "")
        if (user) execFileSync("chown", ["-R", `${user.uid}:${user.gid}`, node.dataDir])
      }

      await Promise.all(nodes.map((n) => cluster.startNode(n)))
      if (database !== "postgres") {
        await cluster.query("writer", `CREATE DATABASE "${database.replace(/"/g, "\"\"")}"`, [], "postgres")
        await cluster.waitForReplication()
      }
      if (bouncers && fronts) {
        for (const [i, node] of nodes.entries()) {
          cluster.#bouncers.push(
            await RunningBouncer.start({
              dir: path.join(dir, "bouncer", node.name),
              port: fronts[i]!,
              target: { host: HOST, port: node.port },
              username,
              password,
              options: bouncers,
              user
            })
          )
        }
      }
      return cluster
    } catch (error) {
      await cluster.stop()
      throw error
    }
  }

  #node(member: Member): Node {
    const node = member === "writer" ? this.#nodes[0] : this.#nodes[member + 1]
    if (node === undefined) throw new Error(`no reader ${member}: the cluster has ${this.#nodes.length - 1} readers`)
    return node
  }

  private async startNode(node: Node): Promise<void> {
    const log = path.join(this.dir, "log", `${node.name}.log`)
    await run(this.pgCtl, ["start", "-w", "-t", "60", "-s", "-D", node.dataDir, "-l", log], serverUser())
    node.running = true
    node.paused = false
  }

  private async stopNode(node: Node, mode: StopMode): Promise<void> {
    if (!node.running) return
    this.thawNode(node)
    await run(this.pgCtl, ["stop", "-w", "-t", "60", "-s", "-m", mode, "-D", node.dataDir], serverUser())
    node.running = false
  }

  /** Runs one statement on a member over its Unix socket, as the superuser. */
  async query<A = Record<string, unknown>>(
    member: Member,
    sql: string,
    params: ReadonlyArray<unknown> = [],
    database = this.database
  ): Promise<Array<A>> {
    const node = this.#node(member)
    const client = new pg.Client({ host: path.join(this.dir, "sock"), port: node.port, user: this.username, database })
    client.on("error", () => {})
    await client.connect()
    try {
      return (await client.query(sql, params as Array<unknown>)).rows as Array<A>
    } finally {
      await client.end()
    }
  }

  /**
   * Sends SIGSTOP to every process of the server, postmaster first so it
   * forks no new backend: a frozen host (a paused VM, a storage stall). The
   * kernel still completes TCP handshakes from its backlog; nothing answers.
   */
  private freezeNode(node: Node): void {
    if (!node.running) throw new Error(`${node.name} is not running`)
    if (node.frozen !== undefined) return
    const pids = processTree(postmasterPid(node.dataDir))
    node.frozen = pids
    signalAll(pids, "SIGSTOP")
    // Backends forked between the listing and the stop.
    const late = processTree(pids[0]!).filter((pid) => !pids.includes(pid))
    signalAll(late, "SIGSTOP")
    node.frozen = [...pids, ...late]
  }

  private thawNode(node: Node): void {
    if (node.frozen === undefined) return
    signalAll(node.frozen, "SIGCONT")
    node.frozen = undefined
  }

  freezeWriter = async () => this.freezeNode(this.#node("writer"))
  thawWriter = async () => this.thawNode(this.#node("writer"))
  freezeReader = async (i: number) => this.freezeNode(this.#node(i))
  thawReader = async (i: number) => this.thawNode(this.#node(i))

  stopReader = (i: number, mode: StopMode = "fast") => this.stopNode(this.#node(i), mode)
  startReader = (i: number) => this.startNode(this.#node(i))
  stopWriter = (mode: StopMode = "fast") => this.stopNode(this.#node("writer"), mode)
  startWriter = () => this.startNode(this.#node("writer"))

  pauseReplay = async (i: number) => {
    await this.query(i, "SELECT pg_wal_replay_pause()")
    this.#node(i).paused = true
  }

  resumeReplay = async (i: number) => {
    await this.query(i, "SELECT pg_wal_replay_resume()")
    this.#node(i).paused = false
  }

  /**
   * Repoints reader `i` at member `j` (a promoted reader, say): rewrites its
   * `primary_conninfo` and restarts it, so it follows the new primary's timeline.
   */
  followWriter = async (i: number, j: Member) => {
    const node = this.#node(i)
    const conninfo = `host=${conninfoValue(path.join(this.dir, "sock"))} port=${this.#node(j).port} user=${
      conninfoValue(this.username)
    } application_name=${node.name}`
    await this.query(i, `ALTER SYSTEM SET primary_conninfo = '${conninfo.replace(/'/g, "''")}'`)
    await this.stopNode(node, "fast")
    await this.startNode(node)
  }

  /** Promotes reader `i` to a primary of its own (it stops following the writer). */
  promoteReader = async (i: number) => {
    await this.query(i, "SELECT pg_promote(true, 60)")
  }

  /** Resolves once every running reader whose replay is not paused has replayed the writer's current WAL position. */
  waitForReplication = async (timeoutMs = 30_000): Promise<void> => {
    const [{ lsn }] = await this.query<{ lsn: string }>(
      "writer",
      "SELECT pg_current_wal_lsn()::text AS lsn",
      [],
      "postgres"
    ) as [
      { lsn: string }
    ]
    const deadline = Date.now() + timeoutMs
    for (const [i, node] of this.#nodes.slice(1).entries()) {
      while (node.running && !node.paused) {
        const [row] = await this.query<{ done: boolean }>(
          i,
          "SELECT pg_wal_lsn_diff(pg_last_wal_replay_lsn(), $1::pg_lsn) >= 0 AS done",
          [lsn],
          "postgres"
        )
        if (row?.done) break
        if (Date.now() > deadline) throw new Error(`${node.name} did not replay ${lsn} within ${timeoutMs} ms`)
        await new Promise((r) => setTimeout(r, 20))
      }
    }
  }

  /** Stops every server and deletes the cluster's folder. Safe to call twice. */
  async stop(): Promise<void> {
    await Promise.allSettled(this.#bouncers.map((b) => b.stop()))
    await Promise.allSettled(this.#nodes.map((n) => this.stopNode(n, "immediate")))
    this.stopSync()
  }

  /** The synchronous last resort, used at process exit. */
  stopSync(): void {
    for (const bouncer of this.#bouncers) bouncer.stopSync()
    for (const node of this.#nodes) {
      this.thawNode(node)
      if (node.running) {
        spawnSync(this.pgCtl, ["stop", "-w", "-t", "10", "-s", "-m", "immediate", "-D", node.dataDir], {
          ...(serverUser() ?? {}),
          stdio: "ignore"
        })
        node.running = false
      }
    }
    killServersIn(this.dir)
    fs.rmSync(this.dir, { recursive: true, force: true })
    live.delete(this)
  }
}
