// Lists a package's public exports, namespaces opened one level (`Postgres.layer value`), read by
// the TypeScript compiler from its declarations, so a restructuring that changes them is seen.
//   node scripts/public-exports.mjs <entry .d.ts or .ts> ...   prints the names as JSON
import * as path from "node:path"
import ts from "typescript"

export const publicExports = (entry) => {
  const program = ts.createProgram([entry], {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    noEmit: true,
    skipLibCheck: true,
  })
  const checker = program.getTypeChecker()
  const kind = (symbol) => {
    const s = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol
    return s.flags & ts.SymbolFlags.Value ? "value" : "type"
  }
  const names = []
  const module = checker.getSymbolAtLocation(program.getSourceFile(entry))
  for (const symbol of checker.getExportsOfModule(module)) {
    const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol
    if (target.flags & ts.SymbolFlags.ValueModule) {
      for (const member of checker.getExportsOfModule(target)) {
        names.push(`${symbol.name}.${member.name} ${kind(member)}`)
      }
    } else {
      names.push(`${symbol.name} ${kind(symbol)}`)
    }
  }
  return names.sort()
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const out = Object.fromEntries(process.argv.slice(2).map((entry) => [entry, publicExports(path.resolve(entry))]))
  console.log(JSON.stringify(out, null, 2))
}
