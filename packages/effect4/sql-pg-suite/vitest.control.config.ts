import { suiteProject } from "./vitest.config.ts"

// The control, run by hand (not in `pnpm test`): the same vendored tests on the installed
// @effect/sql-pg's own PgClient.layer, to tell a pgfleet gap from a test written for another
// sql-pg version than the one installed.
export default suiteProject("effect4-sql-pg-suite-control", "sql-pg", ["test/**/*.test.ts"])
