/** Plain-text tables for the tour: no colours or cursor tricks, so logs stay readable. */
export const table = (headers: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string | number>>): string => {
  const cells = [headers, ...rows.map((r) => r.map(String))]
  const widths = headers.map((_, c) => Math.max(...cells.map((r) => (r[c] ?? "").length)))
  const line = (r: ReadonlyArray<string>) => "  " + r.map((cell, c) => cell.padEnd(widths[c]!)).join("  ").trimEnd()
  return [line(headers), line(widths.map((w) => "-".repeat(w))), ...cells.slice(1).map(line)].join("\n")
}

export const ms = (millis: number) => `${Math.round(millis)} ms`
