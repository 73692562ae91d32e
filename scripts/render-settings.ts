// Writes the configuration table rendered from the settings (core's Settings.settings, which PostgresConfig shows)
// into every README that shows it.
// Usage: pnpm docs:settings (a test fails while a README is out of date).
import * as fs from "node:fs"
import * as path from "node:path"
import { Settings } from "../packages/core/src/index.js"

const BEGIN = "<!-- settings:begin -->"
const END = "<!-- settings:end -->"

export const readmes = ["README.md", "packages/postgres/README.md"].map((f) => path.join(import.meta.dirname, "..", f))

for (const file of readmes) {
  const text = fs.readFileSync(file, "utf8")
  const begin = text.indexOf(BEGIN) + BEGIN.length
  fs.writeFileSync(file, `${text.slice(0, begin)}\n${Settings.markdownTable()}\n${text.slice(text.indexOf(END))}`)
  console.log(`wrote the settings table into ${path.relative(process.cwd(), file)}`)
}
