#!/usr/bin/env node
/**
 * `pgfleet check`: connects to every host of the `DB_*` configuration and
 * says whether the fleet is usable. For deploy pipelines and readiness probes.
 *
 * Exit codes: 0 healthy, every host in its role; 1 degraded (a replica down,
 * lagging past `DB_READER_MAX_LAG_MS`, or in the wrong role); 2 misconfigured
 * or the writer unusable.
 *
 * @since 0.2.0
 */
import { Check } from "@pgfleet/core"

Check.cli(process.argv.slice(2), process.env).then((code) => {
  process.exitCode = code
})
