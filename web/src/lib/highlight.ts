// A small syntax colourer for code lines in diffs: comments, strings, numbers and
// keywords of the languages training code is usually written in. It works on one line
// at a time (a diff shows fragments), so multi-line strings are coloured as far as the
// line shows them.

export interface Span {
  cls: "" | "kw" | "str" | "num" | "com";
  text: string;
}

const KW: Record<string, string[]> = {
  py: "and as assert async await break class continue def del elif else except False finally for from global if import in is lambda None nonlocal not or pass raise return True try while with yield self".split(" "),
  js: "async await break case catch class const continue default delete do else export extends false finally for from function if import in instanceof let new null return super switch this throw true try typeof undefined var void while yield interface type enum implements".split(" "),
  rs: "as async await break const continue crate dyn else enum extern false fn for if impl in let loop match mod move mut pub ref return self Self static struct super trait true type unsafe use where while".split(" "),
  sh: "if then else elif fi for while do done case esac in function return export local set".split(" "),
  yaml: ["true", "false", "null", "yes", "no"],
  c: "auto break case char const continue default do double else enum extern float for goto if int long register return short signed sizeof static struct switch typedef union unsigned void volatile while class namespace template public private protected virtual true false nullptr".split(" "),
};

const COMMENT: Record<string, string> = { py: "#", sh: "#", yaml: "#", toml: "#", js: "//", rs: "//", c: "//" };

export function languageOf(path: string): string {
  const ext = /\.([A-Za-z0-9]+)$/.exec(path)?.[1]?.toLowerCase() ?? "";
  if (["py", "pyi", "pyx"].includes(ext)) return "py";
  if (["js", "mjs", "cjs", "ts", "tsx", "jsx"].includes(ext)) return "js";
  if (ext === "rs") return "rs";
  if (["sh", "bash", "zsh"].includes(ext)) return "sh";
  if (["yaml", "yml"].includes(ext)) return "yaml";
  if (ext === "toml" || ext === "cfg" || ext === "ini") return "toml";
  if (["c", "h", "cc", "cpp", "hpp", "cu", "cuh", "java", "go"].includes(ext)) return "c";
  if (ext === "json") return "json";
  return "";
}

export function highlightLine(line: string, lang: string): Span[] {
  if (!lang) return [{ cls: "", text: line }];
  const kws = new Set(KW[lang] ?? []);
  const com = COMMENT[lang];
  const out: Span[] = [];
  let plain = "";
  const flush = () => {
    if (plain) out.push({ cls: "", text: plain });
    plain = "";
  };
  let i = 0;
  while (i < line.length) {
    const c = line[i]!;
    if (com && line.startsWith(com, i)) {
      flush();
      out.push({ cls: "com", text: line.slice(i) });
      return out;
    }
    if (c === '"' || c === "'" || (c === "`" && lang === "js")) {
      let j = i + 1;
      while (j < line.length && line[j] !== c) j += line[j] === "\\" ? 2 : 1;
      j = Math.min(line.length, j + 1);
      flush();
      out.push({ cls: "str", text: line.slice(i, j) });
      i = j;
      continue;
    }
    if (/[0-9]/.test(c) && !/[A-Za-z_0-9]/.test(line[i - 1] ?? "")) {
      const m = /^(0x[0-9a-fA-F_]+|[0-9][0-9_]*(\.[0-9_]*)?([eE][+-]?[0-9]+)?)/.exec(line.slice(i));
      if (m) {
        flush();
        out.push({ cls: "num", text: m[0] });
        i += m[0].length;
        continue;
      }
    }
    if (/[A-Za-z_]/.test(c) && !/[A-Za-z_0-9]/.test(line[i - 1] ?? "")) {
      const m = /^[A-Za-z_][A-Za-z_0-9]*/.exec(line.slice(i))!;
      if (kws.has(m[0])) {
        flush();
        out.push({ cls: "kw", text: m[0] });
      } else plain += m[0];
      i += m[0].length;
      continue;
    }
    plain += c;
    i++;
  }
  flush();
  return out;
}
