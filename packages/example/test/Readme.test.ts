import * as fs from "node:fs"
import * as path from "node:path"
import { assert, describe, it } from "vitest"
import { tsExamples, typeCheck } from "../../../scripts/readme-examples.js"

const pkg = path.join(__dirname, "..")

/** The top-level README's "Getting the metrics out" examples, type-checked as a user's files against this workspace. */
describe("README: Getting the metrics out", () => {
  it("every TypeScript example of the section type-checks under strict", () => {
    const examples = tsExamples(fs.readFileSync(path.join(pkg, "../../README.md"), "utf8"), "Getting the metrics out")
    assert.isDefined(examples, "the README has the section")
    assert.isAtLeast(examples!.length, 1)
    const tsc = typeCheck(path.join(pkg, ".readme-check"), examples!)
    assert.strictEqual(tsc.status, 0, tsc.output)
  })
})
