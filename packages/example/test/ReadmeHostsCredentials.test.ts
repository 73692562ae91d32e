import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { assert, describe, it } from "vitest"

const pkg = path.join(__dirname, "..")
const work = path.join(pkg, ".readme-check-hosts")

/** The top-level README's "Per-host settings and changing passwords" examples, type-checked as a user's files. */
describe("README: Per-host settings and changing passwords", () => {
  it("every TypeScript example of the section type-checks under strict", () => {
    const readme = fs.readFileSync(path.join(pkg, "../../README.md"), "utf8")
    const section = /^## Per-host settings and changing passwords\n([\s\S]*?)^## /m.exec(readme)?.[1]
    assert.isDefined(section, "the README has the section")
    const examples = [...section!.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!)
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
        JSON.stringify({ extends: "../../../tsconfig.base.json", compilerOptions: { noUnusedLocals: false }, files })
      )
      const tsc = spawnSync("npx", ["tsc", "-p", work], { cwd: pkg, encoding: "utf8" })
      assert.strictEqual(tsc.status, 0, tsc.stdout + tsc.stderr)
    } finally {
      fs.rmSync(work, { recursive: true, force: true })
    }
  })
})
