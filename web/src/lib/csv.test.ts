import { describe, expect, it } from "vitest";
import { csvCell, toCsv } from "./csv";

describe("csv", () => {
  it("quotes what needs quoting", () => {
    expect(csvCell("plain")).toBe("plain");
    expect(csvCell("a,b")).toBe('"a,b"');
    expect(csvCell('say "x"')).toBe('"say ""x"""');
    expect(csvCell("two\nlines")).toBe('"two\nlines"');
  });

  it("writes numbers, booleans and blanks", () => {
    expect(csvCell(-0.5)).toBe("-0.5");
    expect(csvCell(1e-9)).toBe("1e-9");
    expect(csvCell(NaN)).toBe("NaN");
    expect(csvCell(-Infinity)).toBe("-Infinity");
    expect(csvCell(true)).toBe("true");
    expect(csvCell(null)).toBe("");
    expect(csvCell(undefined)).toBe("");
  });

  it("defuses formulas in text cells", () => {
    expect(csvCell("=HYPERLINK(1)")).toBe("'=HYPERLINK(1)");
    expect(csvCell("-x,y")).toBe("\"'-x,y\"");
    expect(csvCell("@sum")).toBe("'@sum");
  });

  it("joins rows with CRLF", () => {
    expect(toCsv(["name", "lr"], [["a", 0.1], ["b,c", null]])).toBe('name,lr\r\na,0.1\r\n"b,c",\r\n');
  });
});

import { parseCsv } from "./csv";

describe("csv parsing", () => {
  it("reads quoted fields", () => {
    expect(parseCsv('a,b\r\n"x,1","say ""hi"""\n"two\nlines",3')).toEqual([
      ["a", "b"],
      ["x,1", 'say "hi"'],
      ["two\nlines", "3"],
    ]);
  });
  it("round-trips what toCsv writes", () => {
    const rows = [["k", "v"], ["a,b", 'q"'], ["", "x"]];
    expect(parseCsv(toCsv(rows[0]!, rows.slice(1)))).toEqual(rows);
  });
  it("stops at maxRows and drops a cut last line", () => {
    expect(parseCsv("a\nb\nc\n", { maxRows: 2 })).toEqual([["a"], ["b"]]);
    expect(parseCsv("a,b\n1,2\n3,", { truncated: true })).toEqual([["a", "b"], ["1", "2"]]);
    expect(parseCsv("a\tb\n1\t2", { sep: "\t" })).toEqual([["a", "b"], ["1", "2"]]);
  });
});
