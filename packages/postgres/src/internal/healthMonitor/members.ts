/**
 * The hosts the health monitor probes and what it knows of each: core's
 * `Members` table, over this package's host pools.
 */
import { Members as Table } from "@pgfleet/core"
import type { HostPool } from "../../HostPool.js"
import type { PostgresSettings } from "../../PostgresConfig.js"
import type * as WriterPool from "../../WriterPool.js"

/** One probed host: a reader, a writer candidate, or both. */
export type Member = Table.Member<HostPool>

/** The member table with each member's health record. */
export type Members = Table.Members<HostPool>

/** What made a host suspect, for the `detected_by` tag when it goes down. */
export type DetectedBy = Table.DetectedBy

/** The monitor's own record of one host. */
export type Health = Table.Health

/** The table; `writer` is read live, as its host changes with a switch. */
export const make = (
  settings: PostgresSettings,
  writer: WriterPool.Service,
  readers: ReadonlyArray<HostPool>
): Members => Table.make<HostPool>(settings, writer, readers)
