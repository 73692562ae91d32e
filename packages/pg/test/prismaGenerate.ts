import { execFileSync } from "node:child_process"
import * as path from "node:path"

/**
 * Generates the Prisma client of test/prisma once for every test file that needs it. No engine binary
 * runs: Prisma 7's client compiles queries in WebAssembly, and `generate` only checks the path it is given.
 */
export default () => {
  const pkg = path.join(__dirname, "..")
  execFileSync("npx", ["prisma", "generate", "--schema", path.join(pkg, "test/prisma/schema.prisma")], {
    cwd: pkg,
    env: { ...process.env, PRISMA_SCHEMA_ENGINE_BINARY: "/bin/false", PRISMA_HIDE_UPDATE_MESSAGE: "1" },
    stdio: "pipe"
  })
}
