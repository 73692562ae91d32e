/**
 * The `pgfleet check` table: connects to every host of a `DB_*`
 * configuration, asks each the health probe's question, and says whether the
 * fleet is usable, with an exit code for deploy pipelines.
 *
 * @since 0.2.0
 */
import * as fs from "node:fs"
import * as util from "node:util"
import * as Connection from "./Connection.js"
import * as Failure from "./Failure.js"
import * as Probe from "./Probe.js"
import type { HostAddress } from "./Settings.js"
import * as Settings from "./Settings.js"

/**
 * What `pgfleet check` found on one host.
 *
 * @since 0.2.0
 * @category models
 */
export interface HostReport {
  readonly host: string
  /** `candidate`: one of several `DB_WRITER_HOST` entries, of which exactly one must be the primary. */
  readonly expectedRole: "primary" | "standby" | "candidate"
  readonly observedRole: "primary" | "standby" | undefined
  readonly reachable: boolean
  readonly tls: boolean | undefined
  readonly serverVersion: string | undefined
  readonly lagBytes: number | undefined
  readonly lagSeconds: number | undefined
  readonly probeMs: number | undefined
  /** The `statement_timeout` statements through this host run under, as `SHOW` prints it. */
  readonly statementTimeout: string | undefined
  readonly error: string | undefined
}

/**
 * What `pgfleet check` found: `exitCode` 0 healthy, 1 degraded (a replica
 * down, lagging or in the wrong role), 2 misconfigured or the writer unusable.
 *
 * @since 0.2.0
 * @category models
 */
export interface Report {
  /** The fleet's name (`DB_FLEET_NAME`, or the prefix in lower case), once the settings were read. */
  readonly fleet?: string | undefined
  readonly status: "healthy" | "degraded" | "unusable" | "misconfigured"
  readonly exitCode: 0 | 1 | 2
  readonly problems: ReadonlyArray<string>
  readonly hosts: ReadonlyArray<HostReport>
}

const EXTRA_SQL = `SELECT current_setting('server_version') AS version,
  COALESCE((SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()), false) AS tls`

/** One connection to one host, the probe question and the server's version and TLS, within the configured timeouts. */
const probe = (settings: Settings.Settings, address: HostAddress) => {
  const started = performance.now()
  const timeoutMs = settings.connectTimeout + settings.healthCheckTimeout
  const config = Connection.clientConfig(Connection.fromSettings(settings), address)
  return Probe.onOwnConnection(config, timeoutMs, async (client) => {
    const { rows: [row] } = await client.query<Probe.ProbeRow>(Probe.PROBE_SQL)
    const probeMs = performance.now() - started
    const { rows: [extra] } = await client.query<{ version: string; tls: boolean }>(EXTRA_SQL)
    const { rows: [timeout] } = await client.query<Connection.StatementTimeoutRow>(Connection.STATEMENT_TIMEOUT_SQL)
    return { row: row!, extra: extra!, timeout: timeout!, probeMs }
  })
}

/**
 * Connects to every host of the `DB_*` configuration in `env` (`ORDERS_DB_*`
 * with `{ prefix: "ORDERS" }`) and says whether the fleet is usable.
 *
 * @example
 * ```ts
 * import { Check } from "@pgfleet/core"
 *
 * const report = await Check.check({ DB_WRITER_HOST: "db", DB_USERNAME: "app", DB_PASSWORD: "x", DB_POOL_TIMEOUT: "soon" })
 * report.status // "misconfigured": DB_POOL_TIMEOUT is not a number
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const check = async (
  env: Readonly<Record<string, string | undefined>>,
  envOptions: Settings.EnvOptions = {}
): Promise<Report> => {
  const variable = (name: string) => Settings.prefixed(envOptions.prefix, name)
  // The check connects with node-postgres whatever runs the statements.
  const parsed = Settings.fromEnv(env, { drivers: ["node-postgres", "sql-pg"], ...envOptions })
  if (parsed._tag === "Invalid") {
    return {
      status: "misconfigured",
      exitCode: 2,
      problems: [new Settings.SettingsError(parsed.issues).message],
      hosts: []
    }
  }
  const { settings } = parsed
  const writerRole = settings.writers.length === 1 ? "primary" as const : "candidate" as const
  const members = [
    ...settings.writers.map((address) => ({ address, expectedRole: writerRole })),
    ...settings.readers.map((address) => ({ address, expectedRole: "standby" as const }))
  ]
  const results = await Promise.allSettled(members.map((m) => probe(settings, m.address)))
  const primaries = members.filter((m, i) => {
    const r = results[i]!
    return m.expectedRole !== "standby" && r.status === "fulfilled" && !r.value.row.standby
  })
  const writerResult = results.find((r, i) =>
    members[i]!.expectedRole !== "standby" && r.status === "fulfilled" &&
    !r.value.row.standby
  )
  const writerLsn = writerResult?.status === "fulfilled" && writerResult.value.row.lsn !== null
    ? Probe.lsnBytes(writerResult.value.row.lsn)
    : undefined
  const hosts = members.map((member, i): HostReport => {
    const host = Settings.hostLabel(member.address)
    const result = results[i]!
    if (result.status === "rejected") {
      return {
        host,
        expectedRole: member.expectedRole,
        observedRole: undefined,
        reachable: false,
        tls: undefined,
        serverVersion: undefined,
        lagBytes: undefined,
        lagSeconds: undefined,
        probeMs: undefined,
        statementTimeout: undefined,
        error: Failure.describe(result.reason)
      }
    }
    const { extra, probeMs, row, timeout } = result.value
    const standby = member.expectedRole === "standby"
    return {
      host,
      expectedRole: member.expectedRole,
      observedRole: row.standby ? "standby" : "primary",
      reachable: true,
      tls: extra.tls,
      serverVersion: extra.version,
      lagBytes: standby ? Probe.read(row, writerLsn).lagBytes : undefined,
      lagSeconds: standby ? row.lag_seconds : undefined,
      probeMs: Math.round(probeMs * 10) / 10,
      statementTimeout: timeout.shown,
      error: undefined
    }
  })
  const maxLagSeconds = settings.maxReplicaLag / 1000
  const problems: Array<string> = []
  let exitCode: 0 | 1 | 2 = 0
  if (writerRole === "candidate" && primaries.length !== 1) {
    problems.push(
      primaries.length === 0
        ? `no ${variable("DB_WRITER_HOST")} candidate is a primary`
        : `split brain: ${primaries.map((m) => Settings.hostLabel(m.address)).join(" and ")} are all primaries`
    )
    exitCode = 2
  }
  for (const h of hosts) {
    const problem = !h.reachable
      ? `${h.host} is unreachable: ${h.error}`
      : h.expectedRole === "candidate"
      ? undefined
      : h.observedRole !== h.expectedRole
      ? `${h.host} is a ${h.observedRole}, expected a ${h.expectedRole}`
      : maxLagSeconds > 0 && (h.lagSeconds ?? 0) > maxLagSeconds
      ? `${h.host} lags ${h.lagSeconds} s, more than ${variable("DB_READER_MAX_LAG_MS")}`
      : undefined
    if (problem === undefined) continue
    problems.push(problem)
    exitCode = h.expectedRole === "primary" ? 2 : Math.max(exitCode, 1) as 0 | 1 | 2
  }
  // Under `verify`, a host whose statements run without the expected timeout is one a pool would refuse.
  const options = Connection.fromSettings(settings)
  for (const [i, result] of results.entries()) {
    if (result.status === "rejected") continue
    const mismatch = Connection.statementTimeoutMismatch(options, hosts[i]!.host, result.value.timeout)
    if (mismatch === undefined) continue
    problems.push(mismatch)
    exitCode = members[i]!.expectedRole === "standby" ? Math.max(exitCode, 1) as 0 | 1 | 2 : 2
  }
  return {
    fleet: settings.fleetName,
    status: exitCode === 0 ? "healthy" : exitCode === 1 ? "degraded" : "unusable",
    exitCode,
    problems,
    hosts
  }
}

const cell = (v: unknown) => v === undefined ? "-" : typeof v === "boolean" ? (v ? "yes" : "no") : String(v)

/**
 * The report as a plain-text table, then the problems.
 *
 * @example
 * ```ts
 * import { Check } from "@pgfleet/core"
 *
 * const text = Check.render({ status: "misconfigured", exitCode: 2, problems: ["DB_WRITER_HOST: expected a value"], hosts: [] })
 * ```
 *
 * @since 0.2.0
 * @category utils
 */
export const render = (report: Report): string => {
  const header = [
    "host",
    "expected",
    "observed",
    "reachable",
    "tls",
    "version",
    "lag bytes",
    "lag s",
    "probe ms",
    "statement timeout"
  ]
  const rows = report.hosts.map((h) =>
    [
      h.host,
      h.expectedRole,
      h.observedRole,
      h.reachable,
      h.tls,
      h.serverVersion,
      h.lagBytes,
      h.lagSeconds,
      h.probeMs,
      h.statementTimeout
    ].map(cell)
  )
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((r) => r[i]!.length)))
  const line = (cells: ReadonlyArray<string>) => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd()
  return [
    ...(report.hosts.length > 0 ? [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)] : []),
    "",
    ...(report.fleet === undefined ? [] : [`fleet ${report.fleet}`]),
    `${report.status} (exit ${report.exitCode})`,
    ...report.problems.map((p) => `- ${p}`)
  ].join("\n")
}

const usage = "usage: pgfleet check [--json] [--env-file <path>] [--prefix <PREFIX>]"

/**
 * The `pgfleet` command: `pgfleet check [--json] [--env-file <path>] [--prefix <PREFIX>]`
 * prints the report (a table, or JSON) and resolves to its exit code;
 * variables in the env file override `env`. `--prefix ORDERS` checks the
 * fleet configured by `ORDERS_DB_*`.
 *
 * @example
 * ```ts
 * import { Check } from "@pgfleet/core"
 *
 * export const main = async () => {
 *   process.exitCode = await Check.cli(process.argv.slice(2), process.env)
 * }
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const cli = async (
  argv: ReadonlyArray<string>,
  env: Readonly<Record<string, string | undefined>>
): Promise<number> => {
  try {
    const { positionals, values } = util.parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        json: { type: "boolean" },
        "env-file": { type: "string" },
        prefix: { type: "string" },
        help: { type: "boolean" }
      }
    })
    if (values.help || positionals[0] !== "check") {
      console.error(usage)
      return values.help ? 0 : 2
    }
    const merged: Record<string, string | undefined> = { ...env }
    if (values["env-file"] !== undefined) {
      Object.assign(merged, util.parseEnv(fs.readFileSync(values["env-file"], "utf8")))
    }
    const report = await check(merged, { prefix: values.prefix })
    console.log(values.json ? JSON.stringify(report, null, 2) : render(report))
    return report.exitCode
  } catch (error) {
    console.error(`pgfleet: ${error instanceof Error ? error.message : String(error)}`)
    return 2
  }
}
