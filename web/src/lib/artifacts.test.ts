import { describe, expect, it } from "vitest";
import { listFolder } from "./artifacts";

const a = (path: string, size = 1) => ({ path, size, blake3: "0".repeat(64), created_at: 0 });

describe("artifact folders", () => {
  const all = [a("logs/output.log", 10), a("model.pt", 5), a("plots/a.png", 2), a("plots/sub/b.png", 3), a("plotsX.txt")];
  it("lists folders first, then files", () => {
    expect(listFolder(all, "").map((e) => [e.name, e.dir, e.size, e.files])).toEqual([
      ["logs", true, 10, 1],
      ["plots", true, 5, 2],
      ["model.pt", false, 5, 1],
      ["plotsX.txt", false, 1, 1],
    ]);
  });
  it("lists a subfolder", () => {
    expect(listFolder(all, "plots").map((e) => e.path)).toEqual(["plots/sub", "plots/a.png"]);
    expect(listFolder(all, "plots/").map((e) => e.path)).toEqual(["plots/sub", "plots/a.png"]);
  });
});
