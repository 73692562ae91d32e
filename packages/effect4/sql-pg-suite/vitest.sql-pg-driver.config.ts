import { suiteProject } from "./vitest.config.ts"

// The vendored tests on pgfleet's writer with DB_DRIVER=sql-pg: statements on @effect/sql-pg 4's own connections.
export default suiteProject("effect4-sql-pg-suite-sql-pg-driver", "writer-sql-pg", ["test/**/*.test.ts"])
