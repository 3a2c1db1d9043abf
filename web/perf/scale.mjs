// The web UI on a very large project (a million runs), in Chromium, measured with the
// page's own clock and checked against the server's answers. Run by
// `cairn-scale-bench` (benches/src/scale.rs) against the store it built:
//
//   node perf/scale.mjs --url http://127.0.0.1:PORT --project scale --runs 1000000
//
// Prints one JSON line (`{"figures": …}`) last; progress goes to stderr. Figures:
//   - first useful paint of the runs table (navigation start → first rows painted),
//   - sort and filter (click / Enter → the new first rows painted), median and worst,
//   - the scrollbar: the table's length is the whole result (the count, or the
//     server's marked estimate past 10,000), and a jump to the middle shows the rows
//     at that position (checked by name against the server's page at that offset),
//   - parallel coordinates: drawn from a sample of the whole result, said on the page.

import { launch } from "../e2e/browser.mjs";
import { client, uiServer } from "../e2e/lib.mjs";
import { MEASURE } from "./measure.mjs";

const args = process.argv.slice(2);
const arg = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : def;
};
const URL_ = arg("--url");
const PROJECT = arg("--project", "scale");
const RUNS = Number(arg("--runs", 0));
if (!URL_) {
  console.error("usage: node perf/scale.mjs --url SERVER [--project P] [--runs N]");
  process.exit(2);
}
const log = (...a) => console.error(...a);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};


async function main() {
  const api = client(URL_);
  const ui = await uiServer(URL_);
  const browser = await launch({ width: 1280, height: 800 });
  const fig = { runs: RUNS, checks: [] };
  const check = (ok, what) => {
    fig.checks.push({ ok: !!ok, what });
    if (!ok) log(`check failed: ${what}`);
  };
  try {
    const { ctx } = browser;
    await ctx.addInitScript(MEASURE);
    const page = ctx.pages()[0] ?? (await ctx.newPage());
    page.setDefaultTimeout(60_000);
    const runsUrl = (q = "") => `${ui.url}/p/${encodeURIComponent(PROJECT)}/runs${q}`;

    // A first visit warms the server and the browser, as a user's second visit would be.
    await page.goto(runsUrl());
    await page.waitForFunction(() => window.__firstRows);

    // 1. First useful paint.
    const paints = [];
    for (let i = 0; i < 5; i++) {
      await page.goto("about:blank");
      await page.goto(runsUrl());
      await page.waitForFunction(() => window.__firstRows);
      paints.push(await page.evaluate(() => window.__firstRows));
    }
    fig.firstPaint = median(paints);
    log(`first useful paint: ${Math.round(fig.firstPaint)} ms (${paints.map(Math.round).join(", ")})`);

    // 2. The scrollbar stands for every run: the table is as long as the project.
    const count = await page.evaluate(() => Number(document.querySelector(".vt").dataset.rows));
    check(count === RUNS, `the table's length is the project's ${RUNS} runs (it is ${count})`);
    // A jump to the middle shows the runs at that position: the row painted nearest to
    // it is the server's run at that offset.
    const middle = Math.floor(RUNS / 2);
    const jump = await page.evaluate(async (middle) => {
      const vt = document.querySelector(".vt");
      const scale = Number(vt.dataset.scale || 1);
      const t0 = performance.now();
      vt.scrollTop = (middle * 30) / scale;
      for (;;) {
        await new Promise((r) => requestAnimationFrame(r));
        const rows = [...document.querySelectorAll(".vt-row[data-run]")].map((r) => ({ at: Number(r.getAttribute("aria-rowindex")) - 2, name: r.querySelector("a")?.textContent?.trim() ?? "" }));
        const near = rows.filter((r) => Math.abs(r.at - middle) < 100).sort((a, b) => Math.abs(a.at - middle) - Math.abs(b.at - middle))[0];
        if (near) return { ms: performance.now() - t0, ...near };
        if (performance.now() - t0 > 30000) return { ms: NaN, at: -1, name: "" };
      }
    }, middle);
    fig.jump = jump.ms;
    const expect = jump.at >= 0 ? await api.post("/api/v1/runs/search", { project: PROJECT, limit: 1, offset: jump.at, fields: [] }) : { runs: [] };
    check(jump.at >= 0 && jump.name === expect.runs[0]?.name, `row ${jump.at} after the jump is ${expect.runs[0]?.name} (the page shows ${jump.name})`);
    log(`jump to row ${middle.toLocaleString()}: ${Math.round(jump.ms)} ms (row ${jump.at}: ${jump.name})`);

    // 3. Sort and filter: to the new first rows painted.
    const version = () => page.evaluate(() => document.querySelector(".vt").dataset.version);
    await page.goto(runsUrl("?col=name&col=status&col=created&col=params.lr&col=params.aug&col=metrics.val_acc&col=tags.team"));
    await page.waitForFunction(() => window.__firstRows);
    const sorts = [];
    for (const col of ["metrics.val_acc", "params.lr", "tags.team", "name", "created"]) {
      for (let k = 0; k < 2; k++) {
        const before = await version();
        const t = await page
          .evaluate(
            ([col, before]) =>
              window.__measure(
                () => document.querySelector(`.th[data-col="${col}"]`).click(),
                () => {
                  const vt = document.querySelector(".vt");
                  return !!vt && vt.getAttribute("aria-busy") === "false" && vt.style.opacity === "1" && vt.dataset.version !== before;
                },
              ),
            [col, before],
          )
          .catch(() => NaN);
        sorts.push(t);
      }
    }
    fig.sort = median(sorts.filter(Number.isFinite));
    fig.sortMax = Math.max(...sorts.map((t) => (Number.isFinite(t) ? t : Infinity)));
    log(`sort: median ${Math.round(fig.sort)} ms, worst ${Math.round(fig.sortMax)} ms (${sorts.map(Math.round).join(", ")})`);
    const filters = ["params.lr < 0.001", 'params.aug = "mixup" and metrics.val_acc > 0.85', 'tags.team = "speech"', 'params.optimizer = "sgd" and params.aug = "cutout" and params.batch_size = 64', "status = \"failed\"", ""];
    const filtersRun = [];
    for (const f of [...filters, ...filters]) {
      const before = await version();
      const t = await page
        .evaluate(
          ([f, before]) =>
            window.__measure(
              () => {
                const input = document.querySelector(".filterbox input");
                Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, "value").set.call(input, f);
                input.dispatchEvent(new Event("input", { bubbles: true }));
                input.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true }));
              },
              () => {
                const vt = document.querySelector(".vt");
                return !!vt && vt.getAttribute("aria-busy") === "false" && vt.style.opacity === "1" && vt.dataset.version !== before;
              },
            ),
          [f, before],
        )
        .catch(() => NaN);
      filtersRun.push(t);
    }
    fig.filter = median(filtersRun.filter(Number.isFinite));
    fig.filterMax = Math.max(...filtersRun.map((t) => (Number.isFinite(t) ? t : Infinity)));
    log(`filter: median ${Math.round(fig.filter)} ms, worst ${Math.round(fig.filterMax)} ms (${filtersRun.map(Math.round).join(", ")})`);

    // 4. A filter matching most runs: the count is the server's, marked when estimated.
    const wide = 'params.aug != "mixup"';
    await page.goto(runsUrl(`?q=${encodeURIComponent(wide)}`));
    await page.waitForFunction(() => /match/.test(document.querySelector("#run-count")?.textContent ?? "") && !/\+/.test(document.querySelector("#run-count").textContent));
    const said = await page.locator("#run-count").innerText();
    const counted = await api.post("/api/v1/runs/search", { project: PROJECT, filter: wide, limit: 1, count: true, fields: [] });
    const rows = await page.evaluate(() => Number(document.querySelector(".vt").dataset.rows));
    check(rows === counted.total, `the filtered table's length is the server's total ${counted.total} (it is ${rows})`);
    check(!counted.total_estimated || /≈/.test(said), `an estimated count is marked: "${said}"`);
    fig.wideCount = said;
    log(`count of "${wide}": ${said}`);

    // 5. Parallel coordinates draw a stated sample of the whole result.
    await page.goto(runsUrl("?panel=parcoords"));
    await page.locator("#parcoords-sample").waitFor();
    const sample = await page.locator("#parcoords-sample").innerText();
    const sampled = await page.locator("#parcoords-sample").getAttribute("data-sampled");
    check(sampled === "1" && /sample|every|stretches/.test(sample), `parallel coordinates say they draw a sample: "${sample}"`);
    fig.parcoords = sample.trim();
    log(`parallel coordinates: ${sample}`);
  } finally {
    await browser.close();
    await ui.stop();
  }
  console.log(JSON.stringify({ figures: fig }));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
