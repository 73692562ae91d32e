import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { assert, describe, it } from "vitest"

const pkg = path.join(__dirname, "..")
const work = path.join(pkg, ".readme-check")

/** The package README's TypeScript examples, type-checked as a user's files (importing `@pgfleet/effect4` by name). */
describe("README (effect 4)", () => {
  it("every TypeScript example type-checks under strict", () => {
    const readme = fs.readFileSync(path.join(pkg, "README.md"), "utf8")
    const examples = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!)
    // The install example and the Drivers section's layer, at least.
    assert.isAtLeast(examples.length, 2)
    fs.rmSync(work, { recursive: true, force: true })
    fs.mkdirSync(work)
    try {
      const files = examples.map((code, i) => {
        const file = `example-${i + 1}.ts`
        fs.writeFileSync(path.join(work, file), code)
        return file
      })
      fs.writeFileSync(
        path.join(work, "tsconfig.json"),
        JSON.stringify({
          extends: "../../../tsconfig.base.json",
          compilerOptions: { noUnusedLocals: false, noEmit: true, skipLibCheck: true },
          files
        })
      )
      const tsc = spawnSync("npx", ["tsc", "-p", work], { cwd: pkg, encoding: "utf8" })
      assert.strictEqual(tsc.status, 0, tsc.stdout + tsc.stderr)
    } finally {
      fs.rmSync(work, { recursive: true, force: true })
    }
  })
})
