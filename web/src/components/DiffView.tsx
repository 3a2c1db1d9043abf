// A unified diff, file by file, with line numbers, added/removed colours and code
// colours by language; and a side-by-side-free line diff between two texts.

import { useState } from "preact/hooks";
import { foldSame, lineDiff, parseUnifiedDiff, type DiffFile } from "../lib/diff";
import { highlightLine, languageOf } from "../lib/highlight";

function Code({ text, lang }: { text: string; lang: string }) {
  return (
    <>
      {highlightLine(text, lang).map((s, i) => (s.cls ? <span class={`tk-${s.cls}`} key={i}>{s.text}</span> : s.text))}
    </>
  );
}

function FileDiff({ f }: { f: DiffFile }) {
  const path = f.newPath === "/dev/null" ? f.oldPath : f.newPath || f.oldPath;
  const lang = languageOf(path);
  return (
    <div class="diff" data-file={path}>
      <div class="fh">
        <span>{path || "(changes)"}</span>
        <span class="st">
          <span class="a">+{f.added}</span> <span class="d">−{f.deleted}</span>
        </span>
      </div>
      <table>
        <tbody>
          {f.lines.map((l, i) => {
            if (l.kind === "meta") {
              if (/^(diff --git|--- |\+\+\+ )/.test(l.text)) return null;
              return (
                <tr class="meta" key={i}>
                  <td class="ln" />
                  <td class="ln" />
                  <td class="code">{l.text}</td>
                </tr>
              );
            }
            if (l.kind === "hunk") {
              return (
                <tr class="hunk" key={i}>
                  <td class="ln" />
                  <td class="ln" />
                  <td class="code">{l.text}</td>
                </tr>
              );
            }
            return (
              <tr class={l.kind} key={i}>
                <td class="ln">{l.oldNo ?? ""}</td>
                <td class="ln">{l.newNo ?? ""}</td>
                <td class="code">
                  <span class="mk">{l.kind === "add" ? "+" : l.kind === "del" ? "−" : " "}</span>
                  <Code text={l.text} lang={lang} />
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

export function UnifiedDiff({ text }: { text: string }) {
  const files = parseUnifiedDiff(text);
  if (files.length === 0) return <div class="empty">The diff is empty.</div>;
  return (
    <div>
      {files.map((f, i) => (
        <FileDiff f={f} key={i} />
      ))}
    </div>
  );
}

/** The line diff from text `a` to text `b`, unchanged stretches folded. */
export function TextDiff({ a, b, title, lang = "" }: { a: string; b: string; title: string; lang?: string }) {
  const [expanded, setExpanded] = useState(false);
  const ops = lineDiff(a.split("\n"), b.split("\n"));
  const added = ops.filter((o) => o.kind === "add").length;
  const deleted = ops.filter((o) => o.kind === "del").length;
  const folded = expanded ? ops : foldSame(ops, 3);
  return (
    <div class="diff">
      <div class="fh">
        <span>{title}</span>
        <span class="st">
          <span class="a">+{added}</span> <span class="d">−{deleted}</span>
        </span>
      </div>
      {added + deleted === 0 ? (
        <div class="empty">identical</div>
      ) : (
        <table>
          <tbody>
            {folded.map((o, i) => {
              if (o.kind === "fold") {
                return (
                  <tr class="fold" key={i} onClick={() => setExpanded(true)}>
                    <td colSpan={3}>⋯ {o.count} unchanged lines</td>
                  </tr>
                );
              }
              const kind = o.kind === "same" ? "ctx" : o.kind;
              return (
                <tr class={kind} key={i}>
                  <td class="ln">{o.aNo ?? ""}</td>
                  <td class="ln">{o.bNo ?? ""}</td>
                  <td class="code">
                    <span class="mk">{o.kind === "add" ? "+" : o.kind === "del" ? "−" : " "}</span>
                    <Code text={o.text} lang={lang} />
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </div>
  );
}
