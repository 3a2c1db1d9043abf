import { describe, expect, it } from "vitest";
import { foldSame, lineDiff, parseUnifiedDiff, type Op } from "./diff";

const patch = `diff --git a/train.py b/train.py
index 1111111..2222222 100644
--- a/train.py
+++ b/train.py
@@ -10,3 +10,4 @@ def main():
     x = 1
-    lr = 0.01
+    lr = 0.02
+    wd = 0.1
     return x
diff --git a/new.txt b/new.txt
new file mode 100644
--- /dev/null
+++ b/new.txt
@@ -0,0 +1 @@
+hello
`;

describe("unified diff", () => {
  it("splits files with line numbers", () => {
    const files = parseUnifiedDiff(patch);
    expect(files.map((f) => [f.oldPath, f.newPath, f.added, f.deleted])).toEqual([
      ["train.py", "train.py", 2, 1],
      ["/dev/null", "new.txt", 1, 0],
    ]);
    const body = files[0]!.lines.filter((l) => l.kind !== "meta" && l.kind !== "hunk");
    expect(body.map((l) => [l.kind, l.oldNo ?? null, l.newNo ?? null, l.text])).toEqual([
      ["ctx", 10, 10, "    x = 1"],
      ["del", 11, null, "    lr = 0.01"],
      ["add", null, 11, "    lr = 0.02"],
      ["add", null, 12, "    wd = 0.1"],
      ["ctx", 12, 13, "    return x"],
    ]);
  });
});

function apply(a: string[], ops: Op[]): string[] {
  const out: string[] = [];
  let i = 0;
  for (const o of ops) {
    if (o.kind === "same") {
      expect(a[i]).toBe(o.text);
      out.push(a[i++]!);
    } else if (o.kind === "del") {
      expect(a[i]).toBe(o.text);
      i++;
    } else out.push(o.text);
  }
  expect(i).toBe(a.length);
  return out;
}

describe("line diff", () => {
  it("finds a shortest script", () => {
    const a = "a b c a b b a".split(" ");
    const b = "c b a b a c".split(" ");
    const ops = lineDiff(a, b);
    expect(apply(a, ops)).toEqual(b);
    expect(ops.filter((o) => o.kind !== "same").length).toBe(5); // the classic example: D = 5
  });

  it("is correct on random inputs", () => {
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % 4).toString();
    for (let t = 0; t < 200; t++) {
      const a = Array.from({ length: t % 13 }, rnd);
      const b = Array.from({ length: (t * 7) % 11 }, rnd);
      expect(apply(a, lineDiff(a, b))).toEqual(b);
      expect(apply(a, lineDiff(a, b, 2))).toEqual(b); // the give-up path is still correct
    }
  });

  it("numbers lines and folds long unchanged runs", () => {
    const a = Array.from({ length: 20 }, (_, i) => `l${i}`);
    const b = [...a];
    b[10] = "changed";
    const ops = lineDiff(a, b);
    const del = ops.find((o) => o.kind === "del")!;
    expect(del.aNo).toBe(11);
    const folded = foldSame(ops, 2);
    expect(folded.filter((o) => o.kind === "fold").map((o) => (o as { count: number }).count)).toEqual([8, 7]);
  });
});
