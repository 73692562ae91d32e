import * as fs from "node:fs"
import * as path from "node:path"
import { assert, describe, it } from "vitest"
import { tsExamples, typeCheck } from "../../../scripts/readme-examples.js"

const pkg = path.join(__dirname, "..")

/** The README's TypeScript examples, each type-checked as a file of its own, as a user would write it. */
describe("README", () => {
  it("every TypeScript example type-checks under strict against the package", () => {
    const examples = tsExamples(fs.readFileSync(path.join(pkg, "README.md"), "utf8"))!
    assert.isAtLeast(examples.length, 5)
    const tsc = typeCheck(
      path.join(pkg, ".readme-check"),
      examples,
      { paths: { "@pgfleet/pg": ["../src/index.ts"], "@pgfleet/pg/testing": ["../src/testing.ts"] } },
      // The Prisma example imports the client that `prisma generate` wrote (test/prismaGenerate.ts).
      (work) => fs.symlinkSync(path.join(pkg, "test/prisma"), path.join(work, "prisma"))
    )
    assert.strictEqual(tsc.status, 0, tsc.output)
  })
})
