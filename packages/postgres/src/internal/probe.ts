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
