import { execFileSync } from "node:child_process"
import * as os from "node:os"

/** The OS identity the servers run as: PostgreSQL refuses to run as root. */
export interface ServerUser {
  readonly uid: number
  readonly gid: number
}

const SERVER_USER = "pgfleet"

const lookup = (name: string): ServerUser | undefined => {
  try {
    const uid = Number(execFileSync("id", ["-u", name], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim())
    const gid = Number(execFileSync("id", ["-g", name], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim())
    return { uid, gid }
  } catch {
    return undefined
  }
}

let cached: ServerUser | undefined | null = null

/**
 * Undefined when this process is not root (servers then run as ourselves);
 * otherwise the `pgfleet` system user, created on first use.
 */
export const serverUser = (): ServerUser | undefined => {
  if (cached !== null) return cached
  if (process.getuid?.() !== 0) return (cached = undefined)
  let user = lookup(SERVER_USER)
  if (user === undefined) {
    try {
      execFileSync("useradd", ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVER_USER], {
        stdio: "pipe"
      })
    } catch (cause) {
      // Another process may have created it at the same moment.
      if (lookup(SERVER_USER) === undefined) {
        throw new Error(`running as root on ${os.hostname()}, and could not create the OS user "${SERVER_USER}"`, {
          cause
        })
      }
    }
    user = lookup(SERVER_USER)!
  }
  return (cached = user)
}
