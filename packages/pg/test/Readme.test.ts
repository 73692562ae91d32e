import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { assert, describe, it } from "vitest"

const pkg = path.join(__dirname, "..")
const work = path.join(pkg, ".readme-check")

/** The README's TypeScript examples, each type-checked as a file of its own, as a user would write it. */
describe("README", () => {
  it("every TypeScript example type-checks under strict against the package", () => {
    const readme = fs.readFileSync(path.join(pkg, "README.md"), "utf8")
    const examples = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!)
    assert.isAtLeast(examples.length, 5)
    // The Prisma example imports the client that `prisma generate` wrote (test/prismaGenerate.ts).
    fs.rmSync(work, { recursive: true, force: true })
    fs.mkdirSync(work)
    fs.symlinkSync(path.join(pkg, "test/prisma"), path.join(work, "prisma"))
    const files = examples.map((code, i) => {
      const file = `example-${i + 1}.ts`
      fs.writeFileSync(path.join(work, file), code)
      return file
    })
    fs.writeFileSync(
      path.join(work, "tsconfig.json"),
      JSON.stringify({
        extends: "../../../tsconfig.base.json",
        compilerOptions: {
          noUnusedLocals: false,
          paths: { "@pgfleet/pg": ["../src/index.ts"], "@pgfleet/pg/testing": ["../src/testing.ts"] }
        },
        files
      })
    )
    const tsc = spawnSync("npx", ["tsc", "-p", work], { cwd: pkg, encoding: "utf8" })
    assert.strictEqual(tsc.status, 0, tsc.stdout + tsc.stderr)
  })
})
