import { defineProject, mergeConfig } from "vitest/config"
import base from "./vitest.config.js"

// The effect 4 line's tests again, with statements on @effect/sql-pg 4's own pool (DB_DRIVER=sql-pg);
// the two that run no statement are left out.
export default mergeConfig(
  base,
  defineProject({
    test: {
      name: "effect4 sql-pg",
      env: { PGFLEET_TEST_DRIVER: "sql-pg" },
      exclude: ["test/Readme.test.ts", "test/KeptSeries.test.ts"]
    }
  })
)
