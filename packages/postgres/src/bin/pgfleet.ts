#!/usr/bin/env node
/**
 * `pgfleet check`: connects to every host of the `DB_*` configuration and
 * says whether the fleet is usable. For deploy pipelines and readiness probes.
 *
 * Exit codes: 0 healthy, every host in its role; 1 degraded (a replica down,
 * lagging past `DB_READER_MAX_LAG_MS`, or in the wrong role); 2 misconfigured
 * or the writer unusable.
 *
 * @since 0.1.0
 */
import { Check } from "@pgfleet/core"
import * as fs from "node:fs"
import * as util from "node:util"

const usage = "usage: pgfleet check [--json] [--env-file <path>]"

const main = async (argv: ReadonlyArray<string>): Promise<number> => {
  const { positionals, values } = util.parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: { json: { type: "boolean" }, "env-file": { type: "string" }, help: { type: "boolean" } }
  })
  if (values.help || positionals[0] !== "check") {
    console.error(usage)
    return values.help ? 0 : 2
  }
  const env: Record<string, string | undefined> = { ...process.env }
  if (values["env-file"] !== undefined) {
    Object.assign(env, util.parseEnv(fs.readFileSync(values["env-file"], "utf8")))
  }
  const report = await Check.check(env)
  console.log(values.json ? JSON.stringify(report, null, 2) : Check.render(report))
  return report.exitCode
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (error) => {
    console.error(`pgfleet: ${error instanceof Error ? error.message : String(error)}`)
    process.exitCode = 2
  }
)
