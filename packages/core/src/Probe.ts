/**
 * One health question, asked in one statement on a connection of its own:
 * the role (`pg_is_in_recovery()`), the WAL position (a primary's current
 * one, a standby's replayed one) and a standby's replay delay. The health
 * monitors and `pgfleet check` all ask it.
 *
 * @since 0.2.0
 */
import pg from "pg"
import { destroySocket } from "./Connection.js"

/**
 * @since 0.2.0
 * @category constants
 */
export const PROBE_SQL = `SELECT pg_is_in_recovery() AS standby,
  (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END)::text AS lsn,
  (CASE WHEN NOT pg_is_in_recovery() OR pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
   ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0) END)::float8 AS lag_seconds`

/**
 * The row {@link PROBE_SQL} answers.
 *
 * @since 0.2.0
 * @category models
 */
export interface ProbeRow {
  readonly standby: boolean
  readonly lsn: string | null
  readonly lag_seconds: number
}

/**
 * What one answer means.
 *
 * @since 0.2.0
 * @category models
 */
export interface Answer {
  readonly role: "primary" | "standby"
  /** The writer's current WAL position, or a replica's replayed one. */
  readonly walLsn: bigint | undefined
  /** Replicas: WAL bytes behind `writerLsn`, when it is known. */
  readonly lagBytes: number | undefined
  /** Replicas: seconds since the last replayed transaction, 0 when caught up. */
  readonly lagSeconds: number | undefined
}

/**
 * A WAL position (`X/Y`, as `pg_current_wal_lsn()::text` prints it) as a number of bytes.
 *
 * @example
 * ```ts
 * import { Probe } from "@pgfleet/core"
 *
 * Probe.lsnBytes("0/3000060") // 50331744n
 * ```
 *
 * @since 0.2.0
 * @category utils
 */
export const lsnBytes = (lsn: string): bigint => {
  const [hi, lo] = lsn.split("/")
  return (BigInt(`0x${hi}`) << 32n) + BigInt(`0x${lo}`)
}

/**
 * Reads one probe row, measuring a standby against the writer's last probed position.
 *
 * @example
 * ```ts
 * import { Probe } from "@pgfleet/core"
 *
 * Probe.read({ standby: true, lsn: "0/3000000", lag_seconds: 4 }, 50331744n).lagBytes // 96
 * ```
 *
 * @since 0.2.0
 * @category utils
 */
export const read = (row: ProbeRow, writerLsn: bigint | undefined): Answer => {
  const walLsn = row.lsn === null ? undefined : lsnBytes(row.lsn)
  if (!row.standby) return { role: "primary", walLsn, lagBytes: undefined, lagSeconds: undefined }
  const lagBytes = writerLsn !== undefined && walLsn !== undefined ? Math.max(0, Number(writerLsn - walLsn)) : undefined
  // Caught up with the writer's last probed position: no replay delay, whatever the last replay time says.
  return { role: "standby", walLsn, lagBytes, lagSeconds: lagBytes === 0 ? 0 : row.lag_seconds }
}

/**
 * Runs `use` on a connection of its own to one host, bounded by `timeoutMs`,
 * then closes its socket (no goodbye a dead host would never answer).
 *
 * @since 0.2.0
 * @category utils
 */
export const onOwnConnection = async <A>(
  config: pg.ClientConfig,
  timeoutMs: number,
  use: (client: pg.Client) => Promise<A>
): Promise<A> => {
  const client = new pg.Client(config)
  client.on("error", () => {})
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([
      client.connect().then(() => use(client)),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs)
      })
    ])
  } finally {
    clearTimeout(timer)
    destroySocket(client)
  }
}

/**
 * Asks one host, on a connection of its own, whether it is a primary; bounded by `timeoutMs`.
 *
 * @since 0.2.0
 * @category utils
 */
export const askRole = (config: pg.ClientConfig, timeoutMs: number): Promise<"primary" | "standby"> =>
  onOwnConnection(config, timeoutMs, async (client) => {
    const { rows } = await client.query<{ standby: boolean }>("SELECT pg_is_in_recovery() AS standby")
    return rows[0]!.standby ? "standby" : "primary"
  })
