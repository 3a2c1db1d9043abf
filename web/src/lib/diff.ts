// Diffs: reading a unified diff (what `cairn run` stores as the uncommitted changes) for
// display, and a line diff of two texts (Myers' O(ND) algorithm) for comparing runs.

export type LineKind = "add" | "del" | "ctx" | "hunk" | "meta";

export interface DiffLine {
  kind: LineKind;
  text: string;
  /** Line numbers in the old and new file, where the line has one. */
  oldNo?: number;
  newNo?: number;
}

export interface DiffFile {
  oldPath: string;
  newPath: string;
  lines: DiffLine[];
  added: number;
  deleted: number;
}

function stripPrefix(p: string): string {
  const t = p.trim().replace(/\t.*$/, "");
  if (t === "/dev/null") return t;
  return t.replace(/^[ab]\//, "");
}

/** Splits a unified (git) diff into files; lines outside any file are kept as a "meta" file. */
export function parseUnifiedDiff(text: string): DiffFile[] {
  const files: DiffFile[] = [];
  let cur = null as DiffFile | null;
  let oldNo = 0;
  let newNo = 0;
  let inHunk = false;
  const lines = text.split("\n");
  if (lines.length && lines[lines.length - 1] === "") lines.pop();
  const start = (oldPath: string, newPath: string): DiffFile => {
    const f: DiffFile = { oldPath, newPath, lines: [], added: 0, deleted: 0 };
    files.push(f);
    inHunk = false;
    return f;
  };
  for (const raw of lines) {
    const line = raw.replace(/\r$/, "");
    if (line.startsWith("diff --git ")) {
      const m = /^diff --git a\/(.*) b\/(.*)$/.exec(line);
      cur = start(m ? m[1]! : line.slice(11), m ? m[2]! : line.slice(11));
      cur.lines.push({ kind: "meta", text: line });
      continue;
    }
    if (!inHunk && line.startsWith("--- ")) {
      if (!cur || cur.lines.some((l) => l.text.startsWith("--- "))) cur = start("", "");
      cur.oldPath = stripPrefix(line.slice(4));
      cur.lines.push({ kind: "meta", text: line });
      continue;
    }
    if (!inHunk && line.startsWith("+++ ") && cur) {
      cur.newPath = stripPrefix(line.slice(4));
      cur.lines.push({ kind: "meta", text: line });
      continue;
    }
    const h = /^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@/.exec(line);
    if (h) {
      if (!cur) cur = start("", "");
      oldNo = Number(h[1]);
      newNo = Number(h[2]);
      inHunk = true;
      cur.lines.push({ kind: "hunk", text: line });
      continue;
    }
    if (!cur) cur = start("", "");
    const f = cur;
    if (inHunk && line.startsWith("+")) {
      f.lines.push({ kind: "add", text: line.slice(1), newNo: newNo++ });
      f.added++;
    } else if (inHunk && line.startsWith("-")) {
      f.lines.push({ kind: "del", text: line.slice(1), oldNo: oldNo++ });
      f.deleted++;
    } else if (inHunk && (line.startsWith(" ") || line === "")) {
      f.lines.push({ kind: "ctx", text: line.slice(1), oldNo: oldNo++, newNo: newNo++ });
    } else {
      // "\ No newline at end of file", index lines, mode changes, binary notices…
      inHunk = inHunk && line.startsWith("\\");
      f.lines.push({ kind: "meta", text: line });
    }
  }
  return files;
}

export type Op = { kind: "same" | "del" | "add"; text: string; aNo?: number; bNo?: number };

/**
 * The line diff turning `a` into `b`: a shortest edit script (Myers). Past `maxEdits`
 * differences it gives up on finding the shortest one and reports the unmatched middle
 * as deleted then added, which is still a correct (if longer) script.
 */
export function lineDiff(a: string[], b: string[], maxEdits = 4000): Op[] {
  let pre = 0;
  while (pre < a.length && pre < b.length && a[pre] === b[pre]) pre++;
  let suf = 0;
  while (suf < a.length - pre && suf < b.length - pre && a[a.length - 1 - suf] === b[b.length - 1 - suf]) suf++;
  const A = a.slice(pre, a.length - suf);
  const B = b.slice(pre, b.length - suf);
  const out: Op[] = [];
  for (let i = 0; i < pre; i++) out.push({ kind: "same", text: a[i]!, aNo: i + 1, bNo: i + 1 });
  const mid = myers(A, B, maxEdits);
  for (const o of mid) {
    out.push({
      ...o,
      ...(o.aNo !== undefined ? { aNo: o.aNo + pre } : {}),
      ...(o.bNo !== undefined ? { bNo: o.bNo + pre } : {}),
    });
  }
  for (let i = 0; i < suf; i++) {
    const ai = a.length - suf + i;
    const bi = b.length - suf + i;
    out.push({ kind: "same", text: a[ai]!, aNo: ai + 1, bNo: bi + 1 });
  }
  return out;
}

function myers(a: string[], b: string[], maxEdits: number): Op[] {
  const n = a.length;
  const m = b.length;
  if (n === 0 && m === 0) return [];
  const max = Math.min(n + m, maxEdits);
  const off = max + 1;
  const v = new Int32Array(2 * max + 3);
  // Frontier before each round d, only the diagonals round d reads (|k| <= d+1):
  // memory grows with the square of the edit distance, not with the file sizes.
  const trace: Int32Array[] = [];
  let found = false;
  outer: for (let d = 0; d <= max; d++) {
    trace.push(v.slice(off - d - 1, off + d + 2));
    for (let k = -d; k <= d; k += 2) {
      let x: number;
      if (k === -d || (k !== d && v[off + k - 1]! < v[off + k + 1]!)) x = v[off + k + 1]!;
      else x = v[off + k - 1]! + 1;
      let y = x - k;
      while (x < n && y < m && a[x] === b[y]) {
        x++;
        y++;
      }
      v[off + k] = x;
      if (x >= n && y >= m) {
        found = true;
        break outer;
      }
    }
  }
  if (!found) {
    return [
      ...a.map((text, i): Op => ({ kind: "del", text, aNo: i + 1 })),
      ...b.map((text, i): Op => ({ kind: "add", text, bNo: i + 1 })),
    ];
  }
  // Walk back through the saved frontiers.
  const ops: Op[] = [];
  let x = n;
  let y = m;
  for (let d = trace.length - 1; d >= 0; d--) {
    const vd = trace[d]!;
    const o = d + 1;
    const k = x - y;
    let prevK: number;
    if (k === -d || (k !== d && vd[o + k - 1]! < vd[o + k + 1]!)) prevK = k + 1;
    else prevK = k - 1;
    const prevX = d === 0 ? 0 : vd[o + prevK]!;
    const prevY = prevX - prevK;
    while (x > prevX && y > prevY) {
      ops.push({ kind: "same", text: a[x - 1]!, aNo: x, bNo: y });
      x--;
      y--;
    }
    if (d === 0) break;
    if (x === prevX) ops.push({ kind: "add", text: b[y - 1]!, bNo: y });
    else ops.push({ kind: "del", text: a[x - 1]!, aNo: x });
    x = prevX;
    y = prevY;
  }
  return ops.reverse();
}

/** Runs of unchanged lines longer than 2·context are folded to their ends. */
export function foldSame(ops: Op[], context = 3): (Op | { kind: "fold"; count: number })[] {
  const out: (Op | { kind: "fold"; count: number })[] = [];
  let i = 0;
  while (i < ops.length) {
    if (ops[i]!.kind !== "same") {
      out.push(ops[i++]!);
      continue;
    }
    let j = i;
    while (j < ops.length && ops[j]!.kind === "same") j++;
    const run = ops.slice(i, j);
    const head = i === 0 ? 0 : context;
    const tail = j === ops.length ? 0 : context;
    if (run.length > head + tail + 1) {
      out.push(...run.slice(0, head), { kind: "fold", count: run.length - head - tail }, ...run.slice(run.length - tail));
    } else out.push(...run);
    i = j;
  }
  return out;
}
