import { createRequire } from "node:module"
import * as path from "node:path"
import { defineProject } from "vitest/config"

// @effect/sql-pg's own suite, vendored unchanged from the Effect repository (see README.md), run
// against pgfleet's writer. Its imports are resolved here, not edited: effect 4.1.0 publishes
// `effect/unstable/X` as `effect/X`; `effect-test/` is the Effect repository's shared test suites;
// @effect/vitest 4 (vitest 4 only) is the vendored copy in vitest-shim/, adapted to vitest 3.2.
const here = import.meta.dirname
const fromEffect4 = createRequire(path.join(here, "../package.json"))
const effectDist = path.dirname(fromEffect4.resolve("effect"))
const fromPg = createRequire(fromEffect4.resolve("pg"))

export const suiteProject = (
  name: string,
  client: "writer" | "writer-sql-pg" | "reader" | "sql-pg",
  include: Array<string>
) =>
  defineProject({
    root: here,
    resolve: {
      alias: [
        { find: /^@effect\/vitest$/, replacement: path.join(here, "vitest-shim/index.ts") },
        { find: /^effect-test\//, replacement: path.join(here, "effect-test") + "/" },
        // Internal in the published package (exports "./internal/*": null); the shared cleanup suite reads one constant.
        { find: /^effect\/internal\/persistence$/, replacement: path.join(effectDist, "internal/persistence.js") },
        { find: /^effect\/unstable\//, replacement: "effect/" },
        { find: /^pg-connection-string$/, replacement: fromPg.resolve("pg-connection-string") },
        { find: /^@pgfleet\/testing$/, replacement: path.join(here, "../../testing/src/index.ts") }
      ]
    },
    test: {
      name,
      include,
      env: { PGFLEET_SUITE_CLIENT: client },
      testTimeout: 60_000,
      hookTimeout: 120_000
    }
  })

export default suiteProject("effect4-sql-pg-suite", "writer", ["test/**/*.test.ts"])
