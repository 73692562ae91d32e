import { suiteProject } from "./vitest.config.ts"

// The same vendored tests on pgfleet's reader (a replica). Only Client.integration.test.ts: the
// KeyValueStore, Persistence and event-log suites create their tables when their layer is built.
export default suiteProject("effect4-sql-pg-suite-reader", "reader", ["test/Client.integration.test.ts"])
