// The README tests' one mechanism: take a markdown text's TypeScript examples and type-check them as a
// user's files, each a file of its own, under the workspace's strict settings.
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"

const base = path.join(import.meta.dirname, "..", "tsconfig.base.json")

/** The ```ts examples of `markdown`, or of its `## heading` section; `undefined` when that section is missing. */
export const tsExamples = (markdown: string, heading?: string): Array<string> | undefined => {
  const text = heading === undefined
    ? markdown
    : new RegExp(`^## ${heading.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\n([\\s\\S]*?)^## `, "m").exec(markdown)?.[1]
  return text === undefined ? undefined : [...text.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!)
}

/**
 * Type-checks `examples` in the folder `work` (made afresh, removed after), with `compilerOptions` over the
 * workspace's; `prepare` may add files there first. Gives tsc's exit status and what it printed.
 */
export const typeCheck = (
  work: string,
  examples: ReadonlyArray<string>,
  compilerOptions: Record<string, unknown> = {},
  prepare?: (work: string) => void
): { readonly status: number | null; readonly output: string } => {
  fs.rmSync(work, { recursive: true, force: true })
  fs.mkdirSync(work)
  try {
    prepare?.(work)
    const files = examples.map((code, i) => {
      const file = `example-${i + 1}.ts`
      fs.writeFileSync(path.join(work, file), code)
      return file
    })
    fs.writeFileSync(
      path.join(work, "tsconfig.json"),
      JSON.stringify({
        extends: path.relative(work, base),
        compilerOptions: { noUnusedLocals: false, ...compilerOptions },
        files
      })
    )
    const tsc = spawnSync("npx", ["tsc", "-p", work], { cwd: path.dirname(work), encoding: "utf8" })
    return { status: tsc.status, output: tsc.stdout + tsc.stderr }
  } finally {
    fs.rmSync(work, { recursive: true, force: true })
  }
}
