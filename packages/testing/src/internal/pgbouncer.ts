import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as path from "node:path"
import type { ServerUser } from "./osUser.js"

/** How a PgBouncer in front of a server pools; see `TestCluster`'s `bouncers` option. */
export interface BouncerOptions {
  /** `transaction` (the default): a server connection is lent for one transaction only. */
  readonly poolMode?: "transaction" | "session" | "statement" | undefined
  /** Server connections per user and database (`default_pool_size`): 10 by default. */
  readonly poolSize?: number | undefined
}

export interface HostPort {
  readonly host: string
  readonly port: number
}

const INSTALL = "install Debian's package (apt-get install -y pgbouncer; Homebrew: brew install pgbouncer), " +
  "or set PGFLEET_PGBOUNCER to the binary's path"

const executable = (file: string) => {
  try {
    fs.accessSync(file, fs.constants.X_OK)
    return fs.statSync(file).isFile()
  } catch {
    return false
  }
}

/** The `pgbouncer` binary: `PGFLEET_PGBOUNCER`, else `PATH`, else the sbin folders a non-root `PATH` lacks. */
export const pgbouncerBinary = (): string => {
  const given = process.env.PGFLEET_PGBOUNCER
  if (given !== undefined && given !== "") {
    if (executable(given)) return given
    throw new Error(`PGFLEET_PGBOUNCER is ${given}, which is not an executable file: ${INSTALL}`)
  }
  const dirs = [...(process.env.PATH ?? "").split(path.delimiter), "/usr/sbin", "/usr/local/sbin", "/usr/local/bin"]
  for (const dir of dirs) {
    if (dir !== "" && executable(path.join(dir, "pgbouncer"))) return path.join(dir, "pgbouncer")
  }
  throw new Error(`pgbouncer not found (looked on PATH, in /usr/sbin and /usr/local/sbin): ${INSTALL}`)
}

/** A double-quoted `userlist.txt` field. */
const userlistValue = (value: string) => `"${value.replace(/"/g, "\"\"")}"`

const ini = (o: {
  readonly dir: string
  readonly port: number
  readonly target: HostPort
  readonly options: BouncerOptions
}) =>
  [
    "[databases]",
    // Any database name the client asks for, on the one server behind this bouncer.
    `* = host=${o.target.host} port=${o.target.port}`,
    "[pgbouncer]",
    `listen_addr = ${o.target.host}`,
    `listen_port = ${o.port}`,
    "unix_socket_dir =",
    "auth_type = scram-sha-256",
    `auth_file = ${path.join(o.dir, "userlist.txt")}`,
    `pool_mode = ${o.options.poolMode ?? "transaction"}`,
    `default_pool_size = ${o.options.poolSize ?? 10}`,
    "max_client_conn = 1000",
    // node-postgres sends extra_float_digits; PgBouncer refuses a startup parameter it does not know.
    "ignore_startup_parameters = extra_float_digits,options",
    // After a failed server login PgBouncer waits this long before the next (15 s by default).
    "server_login_retry = 1",
    "server_connect_timeout = 5",
    "query_wait_timeout = 30",
    `logfile = ${path.join(o.dir, "pgbouncer.log")}`,
    `pidfile = ${path.join(o.dir, "pgbouncer.pid")}`,
    ""
  ].join("\n")

/** True once something accepts TCP connections on `port`. */
const accepting = (host: string, port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = net.connect(port, host)
    socket.once("connect", () => {
      socket.destroy()
      resolve(true)
    })
    socket.once("error", () => resolve(false))
  })

/** `pid` is a live pgbouncer (not a reused pid of something else). */
const isBouncer = (pid: number) => {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, "utf8").trim() === "pgbouncer"
  } catch {
    return false
  }
}

/** SIGKILL to the pgbouncer whose pid is recorded in `dir` (a folder a {@link RunningBouncer} made). */
export const killBouncerIn = (dir: string): void => {
  try {
    const pid = Number(fs.readFileSync(path.join(dir, "bouncer.pid"), "utf8"))
    if (pid > 0 && isBouncer(pid)) process.kill(pid, "SIGKILL")
  } catch {
    // not running
  }
}

/** One PgBouncer process in front of one server, run as `user` (it refuses to run as root). */
export class RunningBouncer {
  private constructor(
    readonly dir: string,
    readonly address: HostPort,
    readonly target: HostPort,
    private readonly pid: number,
    private readonly exited: Promise<void>
  ) {}

  /** Writes its config into `dir` (created here) and resolves once it accepts connections. */
  static async start(o: {
    readonly dir: string
    readonly port: number
    readonly target: HostPort
    readonly username: string
    readonly password: string
    readonly options: BouncerOptions
    readonly user: ServerUser | undefined
  }): Promise<RunningBouncer> {
    const binary = pgbouncerBinary()
    fs.mkdirSync(o.dir, { recursive: true })
    const config = path.join(o.dir, "pgbouncer.ini")
    fs.writeFileSync(config, ini(o))
    // Plaintext, so PgBouncer can answer the server's SCRAM challenge as the client's user.
    fs.writeFileSync(
      path.join(o.dir, "userlist.txt"),
      `${userlistValue(o.username)} ${userlistValue(o.password)}\n`,
      { mode: 0o600 }
    )
    if (o.user) {
      for (const f of [o.dir, config, path.join(o.dir, "userlist.txt")]) fs.chownSync(f, o.user.uid, o.user.gid)
    }
    const child = spawn(binary, [config], {
      ...(o.user ?? {}),
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", LC_ALL: "C", TZ: "UTC" },
      stdio: "ignore"
    })
    // Its teardown is ours (stop, the exit hook, the orphan reaper): it must not keep the event loop alive.
    child.unref()
    let exitCode: number | null | undefined
    const exited = new Promise<void>((resolve) => {
      child.once("exit", (code) => {
        exitCode = code
        resolve()
      })
      child.once("error", () => {
        exitCode = -1
        resolve()
      })
    })
    if (child.pid !== undefined) fs.writeFileSync(path.join(o.dir, "bouncer.pid"), String(child.pid))
    const bouncer = new RunningBouncer(o.dir, { host: o.target.host, port: o.port }, o.target, child.pid ?? 0, exited)
    const deadline = Date.now() + 10_000
    while (!(await accepting(o.target.host, o.port))) {
      if (exitCode !== undefined || Date.now() > deadline) {
        bouncer.stopSync()
        const log = fs.existsSync(path.join(o.dir, "pgbouncer.log"))
          ? fs.readFileSync(path.join(o.dir, "pgbouncer.log"), "utf8").trim().split("\n").slice(-5).join("\n")
          : ""
        throw new Error(
          `pgbouncer for ${o.target.host}:${o.target.port} ${
            exitCode !== undefined ? `exited with ${exitCode}` : "did not listen within 10 s"
          } on port ${o.port}${log === "" ? "" : `:\n${log}`}`
        )
      }
      await new Promise((r) => setTimeout(r, 20))
    }
    return bouncer
  }

  /** SIGTERM (immediate shutdown), then SIGKILL if it is still there after 5 s. */
  async stop(): Promise<void> {
    if (this.pid <= 0 || !isBouncer(this.pid)) return
    try {
      process.kill(this.pid, "SIGTERM")
    } catch {
      return
    }
    const timer = new Promise<"late">((r) => setTimeout(() => r("late"), 5000).unref())
    if ((await Promise.race([this.exited, timer])) === "late") this.stopSync()
  }

  stopSync(): void {
    killBouncerIn(this.dir)
  }
}
