import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { assert, describe, it } from "vitest"

const root = path.join(__dirname, "../../..")

/** The top-level README's sections whose TypeScript examples are type-checked here. */
const sections = ["Several fleets in one program"]

/** The `ts` examples of one `## ` section. */
const examplesOf = (readme: string, title: string) => {
  const start = readme.indexOf(`\n## ${title}\n`)
  assert.isAtLeast(start, 0, `the README has a section "${title}"`)
  const end = readme.indexOf("\n## ", start + 1)
  const text = readme.slice(start, end === -1 ? undefined : end)
  return [...text.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!)
}

describe("README", () => {
  it("the examples of the checked sections type-check under strict against the packages", () => {
    const readme = fs.readFileSync(path.join(root, "README.md"), "utf8")
    // Inside the package's node_modules: the examples resolve `effect` as a user's program would, and git ignores it.
    const cache = path.join(root, "packages/postgres/node_modules/.cache")
    fs.mkdirSync(cache, { recursive: true })
    const work = fs.mkdtempSync(path.join(cache, "readme-"))
    try {
      const files = sections.flatMap((title) => examplesOf(readme, title)).map((code, i) => {
        const file = `example-${i + 1}.ts`
        fs.writeFileSync(path.join(work, file), code)
        return file
      })
      assert.isAtLeast(files.length, sections.length)
      fs.writeFileSync(
        path.join(work, "tsconfig.json"),
        JSON.stringify({
          extends: path.join(root, "tsconfig.base.json"),
          compilerOptions: {
            noUnusedLocals: false,
            // A user's program: top-level await and an empty module are both fine there.
            module: "ESNext",
            moduleDetection: "force",
            paths: {
              "@pgfleet/postgres": [path.join(root, "packages/postgres/src/index.ts")],
              "@pgfleet/testing": [path.join(root, "packages/testing/src/index.ts")]
            }
          },
          files
        })
      )
      const tsc = spawnSync("npx", ["tsc", "-p", work], { cwd: path.join(root, "packages/postgres"), encoding: "utf8" })
      assert.strictEqual(tsc.status, 0, tsc.stdout + tsc.stderr)
    } finally {
      fs.rmSync(work, { recursive: true, force: true })
    }
  })
})
