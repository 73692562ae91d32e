import pg from "pg"
import { destroySocket } from "./pgOptions.js"

/**
 * One health question, asked in one statement on a connection of its own:
 * the role (`pg_is_in_recovery()`), the WAL position (a primary's current
 * one, a standby's replayed one) and a standby's replay delay. The health
 * monitor and `pgfleet check` both ask it.
 */
export const PROBE_SQL = `SELECT pg_is_in_recovery() AS standby,
  (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END)::text AS lsn,
  (CASE WHEN NOT pg_is_in_recovery() OR pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
   ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0) END)::float8 AS lag_seconds`

export interface ProbeRow {
  readonly standby: boolean
  readonly lsn: string | null
  readonly lag_seconds: number
}

/** A WAL position (`X/Y`) as a number of bytes. */
export const lsnBytes = (lsn: string): bigint => {
  const [hi, lo] = lsn.split("/")
  return (BigInt(`0x${hi}`) << 32n) + BigInt(`0x${lo}`)
}

/**
 * Runs `use` on a connection of its own to one host, bounded by `timeoutMs`,
 * then closes its socket (no goodbye a dead host would never answer).
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

/** Asks one host, on a connection of its own, whether it is a primary; bounded by `timeoutMs`. */
export const askRole = (config: pg.ClientConfig, timeoutMs: number): Promise<"primary" | "standby"> =>
  onOwnConnection(config, timeoutMs, async (client) => {
    const { rows } = await client.query<{ standby: boolean }>("SELECT pg_is_in_recovery() AS standby")
    return rows[0]!.standby ? "standby" : "primary"
  })
