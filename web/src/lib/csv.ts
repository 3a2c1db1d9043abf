// CSV (RFC 4180): fields with a comma, quote or line break are quoted, quotes doubled,
// lines end with CRLF. Text cells that a spreadsheet would run as a formula (starting
// with = + - @ or a tab/CR) get a leading apostrophe; numbers are written as they are.

export type Cell = string | number | boolean | null | undefined;

export function csvCell(v: Cell): string {
  if (v === null || v === undefined) return "";
  if (typeof v === "number") return Number.isFinite(v) ? String(v) : Number.isNaN(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity";
  if (typeof v === "boolean") return v ? "true" : "false";
  let s = v;
  if (/^[=+\-@\t\r]/.test(s)) s = "'" + s;
  return /[",\r\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
}

export function toCsv(header: string[], rows: Iterable<Cell[]>): string {
  const lines = [header.map(csvCell).join(",")];
  for (const r of rows) lines.push(r.map(csvCell).join(","));
  return lines.join("\r\n") + "\r\n";
}

/**
 * Parses CSV (RFC 4180, also tab-separated with `sep = "\t"`): quoted fields may hold
 * separators, doubled quotes and line breaks. Stops after `maxRows` rows. A last line
 * cut short (a preview of the start of a file) is dropped when `truncated` is set.
 */
export function parseCsv(text: string, opts: { sep?: string; maxRows?: number; truncated?: boolean } = {}): string[][] {
  const sep = opts.sep ?? ",";
  const max = opts.maxRows ?? Infinity;
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = "";
  let i = 0;
  let quoted = false;
  let complete = true;
  while (i < text.length && rows.length < max) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          cell += '"';
          i += 2;
          continue;
        }
        quoted = false;
        i++;
        continue;
      }
      cell += c;
      i++;
      continue;
    }
    if (c === '"' && cell === "") {
      quoted = true;
      i++;
    } else if (c === sep) {
      row.push(cell);
      cell = "";
      i++;
    } else if (c === "\n" || c === "\r") {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = "";
      i += c === "\r" && text[i + 1] === "\n" ? 2 : 1;
    } else {
      cell += c;
      i++;
    }
  }
  if (rows.length < max && (cell !== "" || row.length > 0)) {
    complete = !quoted;
    if (!(opts.truncated || !complete)) {
      row.push(cell);
      rows.push(row);
    }
  }
  return rows;
}
