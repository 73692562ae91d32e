import { defineWorkspace } from "vitest/config"

export default defineWorkspace([
  "packages/*/vitest.config.ts",
  // The effect 4 line's tests again on DB_DRIVER=sql-pg.
  "packages/effect4/vitest.sql-pg.config.ts",
  // @effect/sql-pg 4's own suite against @pgfleet/effect4's writer, and its read-only part against the reader.
  "packages/effect4/sql-pg-suite/vitest.config.ts",
  "packages/effect4/sql-pg-suite/vitest.reader.config.ts",
  // ... and against the writer on DB_DRIVER=sql-pg.
  "packages/effect4/sql-pg-suite/vitest.sql-pg-driver.config.ts"
])
