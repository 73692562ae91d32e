// TypeScript falls through to the workspace root's effect 3 for a subpath effect 4 does not export;
// Node does not. Resolve every effect import of src the way Node will, so such an import fails the check.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const files = (dir) =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : []
  );
let bad = 0;
for (const file of [...files(join(import.meta.dirname, "src")), ...files(join(import.meta.dirname, "test"))]) {
  for (const [, spec] of readFileSync(file, "utf8").matchAll(/from "((?:effect|@effect\/sql-pg)(?:\/[^"]*)?)"/g)) {
    let found = false;
    try {
      // Resolved from this folder, as src's and test's own imports are; an exports pattern needs the file too.
      found = existsSync(fileURLToPath(import.meta.resolve(spec)));
    } catch {
      found = false;
    }
    if (!found) {
      console.error(`${file}: "${spec}" is not exported by the installed effect 4 / @effect/sql-pg 4`);
      bad++;
    }
  }
}
process.exit(bad === 0 ? 0 : 1);
