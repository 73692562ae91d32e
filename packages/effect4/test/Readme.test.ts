import * as fs from "node:fs"
import * as path from "node:path"
import { assert, describe, it } from "vitest"
import { tsExamples, typeCheck } from "../../../scripts/readme-examples.js"

const pkg = path.join(__dirname, "..")

/** The package README's TypeScript examples, type-checked as a user's files (importing `@pgfleet/effect4` by name). */
describe("README (effect 4)", () => {
  it("every TypeScript example type-checks under strict", () => {
    const examples = tsExamples(fs.readFileSync(path.join(pkg, "README.md"), "utf8"))!
    // The install example and the Drivers section's layer, at least.
    assert.isAtLeast(examples.length, 2)
    const tsc = typeCheck(path.join(pkg, ".readme-check"), examples, { noEmit: true, skipLibCheck: true })
    assert.strictEqual(tsc.status, 0, tsc.output)
  })
})
