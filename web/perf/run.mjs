// Performance of the web UI on a large store, measured in Chromium with the page's own
// performance clock.
//
//   npm run perf          (builds dist/ first)
//   CAIRN_BIN=… node perf/run.mjs [--refill] [--runs 50000] [--no-write]
//
// The store (web/perf-store/, ignored by git) is filled once through the REST API:
// 50,000 runs with params, tags and metric summaries, plus 20 runs of 100,000 points
// each; later runs of the script reuse it. Then it measures, and writes the figures
// into PERF.md:
//   - first useful paint of the runs table (navigation start → first rows painted),
//   - sort and filter latency (click/Enter → new rows painted), server-side on 50,000 runs,
//   - scrolling the virtualised table (frame times while scrolling through 20,000 rows),
//   - 20 runs × 100,000 points on one chart: first draw, zoom redraw (zoom → redrawn),
//     and zoom → re-fetched points for the range drawn.

import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { launch } from "../e2e/browser.mjs";
import { cairnBin, client, startServer, uiServer, WEB, rng } from "../e2e/lib.mjs";
import { MEASURE } from "./measure.mjs";

const args = process.argv.slice(2);
const arg = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : def;
};
const RUNS = Number(arg("--runs", 50000));
const LONG = 20;
const POINTS = 100_000;
const PROJECT = "perf";
const STORE = path.join(WEB, "perf-store");
const MARK = path.join(STORE, "READY.json");
const FORMAT = 1;

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const ms = (x) => `${Math.round(x)} ms`;

async function fillStore(url) {
  const c = client(url);
  await c.post("/api/v1/projects", { name: PROJECT, description: "50,000 synthetic runs for the UI's performance figures", require_hypothesis: false, primary_metric: { key: "val/acc", direction: "increase" } });
  const r = rng(42);
  const owners = ["ana", "bo", "chen", "dara", "eli", "fay", "gus", "hana"];
  const augs = ["none", "flip", "rotate", "mixup"];
  const opts = ["adam", "adamw", "sgd"];
  let next = 0;
  let done = 0;
  const t0 = Date.now();
  const CONC = 24;
  await Promise.all(
    Array.from({ length: CONC }, async () => {
      for (;;) {
        const k = next++;
        if (k >= RUNS) return;
        const lr = Number((10 ** (-5 + 4 * r())).toPrecision(3));
        const depth = 2 + Math.floor(r() * 11);
        const aug = augs[Math.floor(r() * augs.length)];
        const acc = Math.min(0.99, 0.6 + 0.3 * r() + (aug === "mixup" ? 0.03 : 0) - Math.abs(Math.log10(lr) + 3) * 0.02);
        const run = await c.post("/api/v1/runs", {
          project: PROJECT,
          name: `sweep-${k}`,
          hypothesis: k % 7 === 0 ? null : `${aug} with lr ${lr} and depth ${depth} raises val/acc`,
          owner: owners[k % owners.length],
          tags: { team: ["vision", "speech", "nlp"][k % 3], sweep: `s${Math.floor(k / 1000)}` },
          config: { lr, model: { depth, width: [64, 128, 256, 512][k % 4], dropout: Number((r() * 0.5).toFixed(2)) }, aug, optimizer: { name: opts[k % 3] }, batch_size: [32, 64, 128][k % 3], seed: k % 5 },
          seeds: [k % 5],
        });
        await c.post(`/api/v1/runs/${run.id}/metrics`, {
          series: [
            { key: "loss", steps: [0, 50, 100], values: [2.3, 1 - acc / 2, 1.05 - acc] },
            { key: "val/acc", steps: [0, 50, 100], values: [0.33, acc - 0.05, Number(acc.toFixed(5))] },
          ],
        });
        await c.post(`/api/v1/runs/${run.id}/finish`, { status: k % 23 === 0 ? "failed" : "finished" });
        done++;
        if (done % 2500 === 0) {
          const rate = done / ((Date.now() - t0) / 1000);
          console.log(`  ${done.toLocaleString()} runs (${rate.toFixed(0)}/s, ~${Math.round((RUNS - done) / rate)} s left)`);
        }
      }
    }),
  );
  console.log(`  ${RUNS.toLocaleString()} runs in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  const t1 = Date.now();
  for (let i = 0; i < LONG; i++) {
    const run = await c.post("/api/v1/runs", { project: PROJECT, name: `long-${i}`, hypothesis: "a long run to chart", owner: "ana", tags: { long: "1" }, config: { lr: 0.001 * (i + 1), model: { depth: 4 + (i % 4) } } });
    const steps = new Array(POINTS);
    const values = new Array(POINTS);
    const timestamps = new Array(POINTS);
    const start = Date.now() - POINTS * 100;
    const rr = rng(i + 1);
    for (let s = 0; s < POINTS; s++) {
      steps[s] = s;
      values[s] = Number((2 * Math.exp(-s / (15000 + 1000 * i)) + 0.05 + (rr() - 0.5) * 0.08 + (s % 9973 === 0 ? 1.5 : 0)).toFixed(6));
      timestamps[s] = start + s * 100;
    }
    await c.post(`/api/v1/runs/${run.id}/metrics`, { series: [{ key: "loss", steps, values, timestamps }] });
    await c.post(`/api/v1/runs/${run.id}/finish`, {});
  }
  console.log(`  ${LONG} × ${POINTS.toLocaleString()} points in ${((Date.now() - t1) / 1000).toFixed(0)} s`);
}

// In the page: run `action`, then resolve with the time until `done()` holds and a frame
// has been painted after it (requestAnimationFrame twice: the frame was produced).

async function main() {
  const bin = cairnBin();
  if (args.includes("--refill") && existsSync(STORE)) rmSync(STORE, { recursive: true, force: true });
  let ready = null;
  try {
    ready = JSON.parse(readFileSync(MARK, "utf8"));
  } catch {}
  if (ready && (ready.format !== FORMAT || ready.runs !== RUNS)) {
    rmSync(STORE, { recursive: true, force: true });
    ready = null;
  }
  mkdirSync(STORE, { recursive: true });
  const srv = await startServer({ home: STORE, bin });
  let ui;
  let browser;
  try {
    if (!ready) {
      console.log(`filling ${STORE} with ${RUNS.toLocaleString()} runs and ${LONG} × ${POINTS.toLocaleString()} points through the REST API (once)…`);
      await fillStore(srv.url);
      writeFileSync(MARK, JSON.stringify({ format: FORMAT, runs: RUNS, long: LONG, points: POINTS, at: new Date().toISOString() }));
    } else console.log(`reusing ${STORE} (${RUNS.toLocaleString()} runs, filled ${ready.at})`);
    ui = await uiServer(srv.url);
    browser = await launch({ width: 1280, height: 800 });
    const { ctx } = browser;
    await ctx.addInitScript(MEASURE);
    const page = ctx.pages()[0] ?? (await ctx.newPage());
    page.setDefaultTimeout(60_000);
    const U = (p) => ui.url + p;
    const fig = {};

    // Warm the server's caches and the browser's once, as a user's second visit would be.
    await page.goto(U(`/p/${PROJECT}/runs`));
    await page.waitForFunction(() => window.__firstRows);

    // 1. First useful paint of the runs table.
    const paints = [];
    const fetches = [];
    for (let i = 0; i < 5; i++) {
      await page.goto("about:blank");
      await page.goto(U(`/p/${PROJECT}/runs`));
      await page.waitForFunction(() => window.__firstRows);
      paints.push(await page.evaluate(() => window.__firstRows));
      fetches.push(
        await page.evaluate(() => {
          const e = performance.getEntriesByType("resource").find((r) => r.name.includes("/api/v1/runs/search"));
          return e ? e.duration : NaN;
        }),
      );
    }
    fig.firstPaint = median(paints);
    fig.firstPage = median(fetches);
    console.log(`first useful paint of the runs table: ${ms(fig.firstPaint)} (median of 5; search request ${ms(fig.firstPage)})`);

    // 2. Sort and filter latency.
    // A query is shown when the table has taken a new first page (its version moved on)
    // and is no longer loading.
    const state = () => page.evaluate(() => document.querySelector(".vt").dataset.version);
    const sortTimes = [];
    for (const col of ["metrics.val/acc", "params.lr", "name", "metrics.val/acc", "params.model.depth", "created"]) {
      for (let k = 0; k < 2; k++) {
        const before = await state();
        const t = await page.evaluate(
          ([col, before]) =>
            window.__measure(
              () => document.querySelector(`.th[data-col="${col}"]`).click(),
              () => {
                const vt = document.querySelector(".vt");
                return vt.getAttribute("aria-busy") === "false" && vt.style.opacity === "1" && vt.dataset.version !== before;
              },
            ),
          [col, before],
        ).catch(() => NaN);
        sortTimes.push(t);
      }
    }
    const filters = ["params.lr < 0.001", 'metrics.val/acc > 0.85 and params.aug = "mixup"', 'tags.team = "speech" and params.model.depth >= 8', 'owner = "chen" and status = "failed"', "min(metrics.loss) < 0.2", ""];
    const filterTimes = [];
    for (const f of [...filters, ...filters]) {
      const before = await state();
      const t = await page.evaluate(
        ([f, before]) =>
          window.__measure(
            () => {
              const input = document.querySelector(".filterbox input");
              const set = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, "value").set;
              set.call(input, f);
              input.dispatchEvent(new Event("input", { bubbles: true }));
              input.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true }));
            },
            () => {
              const vt = document.querySelector(".vt");
              return !!vt && vt.getAttribute("aria-busy") === "false" && vt.style.opacity === "1" && vt.dataset.version !== before;
            },
          ),
        [f, before],
      ).catch(() => NaN);
      filterTimes.push(t);
    }
    // The server's share: the same first pages asked for directly (no browser).
    const c = client(srv.url);
    const serverTimes = async (queries) => {
      const out = [];
      for (const q of queries) {
        const t = performance.now();
        await c.post("/api/v1/runs/search", { project: PROJECT, limit: 100, fields: ["config", "metrics", "tags"], ...q });
        out.push(performance.now() - t);
      }
      return median(out);
    };
    fig.sortServer = await serverTimes(["metrics.val/acc", "params.lr", "name", "params.model.depth", "created"].flatMap((f) => [{ order_by: `${f} asc` }, { order_by: `${f} desc` }]));
    fig.filterServer = await serverTimes(filters.map((f) => ({ filter: f, order_by: "created desc" })));
    console.log(`server share (first page, asked directly): sort ${ms(fig.sortServer)}, filter ${ms(fig.filterServer)}`);
    fig.sort = median(sortTimes.filter(Number.isFinite));
    fig.sortMax = Math.max(...sortTimes.filter(Number.isFinite));
    fig.filter = median(filterTimes.filter(Number.isFinite));
    fig.filterMax = Math.max(...filterTimes.filter(Number.isFinite));
    console.log(`sort: median ${ms(fig.sort)}, worst ${ms(fig.sortMax)} (${sortTimes.length} sorts: ${sortTimes.map(Math.round).join(", ")} ms)`);
    console.log(`filter: median ${ms(fig.filter)}, worst ${ms(fig.filterMax)} (${filterTimes.length} filters: ${filterTimes.map(Math.round).join(", ")} ms)`);

    // 3. Scrolling: frame times while scrolling down through 20,000 rows (pages load as it goes).
    await page.goto(U(`/p/${PROJECT}/runs`));
    await page.waitForFunction(() => window.__firstRows);
    const scroll = await page.evaluate(async () => {
      const vt = document.querySelector(".vt");
      const frames = [];
      let last = performance.now();
      const target = 20000 * 30;
      const t0 = performance.now();
      while (vt.scrollTop < target - vt.clientHeight && performance.now() - t0 < 60000) {
        vt.scrollTop += 900; // 30 rows a frame
        await new Promise((r) => requestAnimationFrame(r));
        const now = performance.now();
        frames.push(now - last);
        last = now;
      }
      frames.sort((a, b) => a - b);
      return { frames: frames.length, rows: Number(vt.dataset.rows), p50: frames[Math.floor(frames.length / 2)], p95: frames[Math.floor(frames.length * 0.95)], total: performance.now() - t0, domRows: document.querySelectorAll(".vt-row").length };
    });
    fig.scroll = scroll;
    console.log(`scroll: ${scroll.frames} frames to reach row ${scroll.rows.toLocaleString()}, frame time p50 ${scroll.p50.toFixed(1)} ms, p95 ${scroll.p95.toFixed(1)} ms; ${scroll.domRows} rows in the DOM`);

    // 4. One chart, 20 runs × 100,000 points.
    const long = await client(srv.url).post("/api/v1/runs/search", { project: PROJECT, filter: 'tags.long = "1"', order_by: "name", limit: 100 });
    const ids = long.runs.map((r) => r.short_id).join(",");
    const chartUrl = U(`/p/${PROJECT}/compare?runs=${ids}&keys=loss`);
    const loads = [];
    for (let i = 0; i < 3; i++) {
      await page.goto("about:blank");
      const t0 = Date.now();
      await page.goto(chartUrl);
      await page.locator('.chart-box[data-metric="loss"]').scrollIntoViewIfNeeded();
      await page.waitForFunction((n) => document.querySelector('.chart-box[data-metric="loss"]')?.getAttribute("data-series") === String(n), long.runs.length);
      loads.push(Date.now() - t0);
    }
    fig.chartLoad = median(loads);
    const total = await page.locator('.chart-box[data-metric="loss"]').getAttribute("data-total");
    const drawn = await page.locator('.chart-box[data-metric="loss"]').getAttribute("data-points");
    console.log(`chart of ${long.runs.length} runs (${Number(total).toLocaleString()} points, ${Number(drawn).toLocaleString()} drawn after downsampling): page load to drawn ${ms(fig.chartLoad)}`);
    await page.locator('.chart-box[data-metric="loss"]').focus();
    const zooms = [];
    const refetch = [];
    for (const key of ["+", "+", "+", "ArrowRight", "-", "+", "ArrowLeft", "+"]) {
      const r = await page.evaluate(async (key) => {
        const box = document.querySelector('.chart-box[data-metric="loss"]');
        performance.clearMeasures("cairn:zoom");
        const before = box.dataset.range;
        const t0 = performance.now();
        box.dispatchEvent(new KeyboardEvent("keydown", { key, bubbles: true }));
        // Redrawn at the new scale (uPlot's draw hook records "cairn:zoom"), then the frame
        // that shows it painted.
        const t1 = await new Promise((resolve) => {
          const tick = () => {
            const m = performance.getEntriesByName("cairn:zoom");
            if (m.length) requestAnimationFrame(() => requestAnimationFrame(() => resolve(performance.now() - t0)));
            else if (performance.now() - t0 > 5000) resolve(NaN);
            else requestAnimationFrame(tick);
          };
          tick();
        });
        // The points for the new range fetched and drawn.
        const t2 = await new Promise((resolve) => {
          const tick = () => {
            if (box.dataset.range !== before && box.dataset.range !== "full") requestAnimationFrame(() => resolve(performance.now() - t0));
            else if (performance.now() - t0 > 10000) resolve(NaN);
            else requestAnimationFrame(tick);
          };
          tick();
        });
        return [t1, t2];
      }, key);
      zooms.push(r[0]);
      refetch.push(r[1]);
      await page.waitForTimeout(300);
    }
    fig.zoom = median(zooms.filter(Number.isFinite));
    fig.zoomMax = Math.max(...zooms.filter(Number.isFinite));
    fig.refetch = median(refetch.filter(Number.isFinite));
    console.log(`zoom redraw: median ${ms(fig.zoom)}, worst ${ms(fig.zoomMax)}; re-fetched detail drawn: median ${ms(fig.refetch)}`);

    if (!args.includes("--no-write")) writePerf(fig, long.runs.length, Number(total), bin);
  } finally {
    await browser?.close();
    await ui?.stop();
    await srv.stop();
  }
}

function writePerf(f, longRuns, totalPoints, bin) {
  const verdict = (v, target) => (v <= target ? "✓" : "✗");
  const cpu = os.cpus()[0]?.model ?? "?";
  const text = `# Web UI performance

Measured by \`npm run perf\` (\`web/perf/run.mjs\`) in headless Chromium (${"`/usr/bin/chromium`"}, 1280×800,
no GPU) against \`${path.relative(path.join(WEB, ".."), bin)}\` serving a SQLite store filled through the REST
API with ${RUNS.toLocaleString()} runs (params, tags, two metric summaries each) and ${longRuns} runs of
${POINTS.toLocaleString()} points. Times come from the page's own clock (\`performance.now()\`, navigation
start for the first paint), each up to the frame that shows the result. Machine: ${os.cpus().length} × ${cpu},
${Math.round(os.totalmem() / 2 ** 30)} GiB; last run ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC.

| figure | target | measured | |
|---|---|---|---|
| first useful paint of the runs table (50,000 runs) | ≤ 1 s | ${ms(f.firstPaint)} (first search request ${ms(f.firstPage)}) | ${verdict(f.firstPaint, 1000)} |
| sort by a column (server-side), median / worst of 12 | ≤ 300 ms | ${ms(f.sort)} / ${ms(f.sortMax)} (server's share ${ms(f.sortServer)}) | ${verdict(f.sort, 300)} |
| filter (server-side), median / worst of 12 | ≤ 300 ms | ${ms(f.filter)} / ${ms(f.filterMax)} (server's share ${ms(f.filterServer)}) | ${verdict(f.filter, 300)} |
| chart zoom, ${longRuns} runs × ${POINTS.toLocaleString()} points: zoom (key press) → redrawn frame painted, median / worst | ≤ 150 ms | ${ms(f.zoom)} / ${ms(f.zoomMax)} | ${verdict(f.zoom, 150)} |
| … zoom → detail for the new range fetched (downsampled at the chart's width) and drawn | | ${ms(f.refetch)} | |
| chart: page load → ${longRuns} series drawn (${totalPoints.toLocaleString()} points, downsampled) | | ${ms(f.chartLoad)} | |
| scrolling the table to row ${f.scroll.rows.toLocaleString()}: frame time p50 / p95 | 16.7 ms a frame | ${f.scroll.p50.toFixed(1)} / ${f.scroll.p95.toFixed(1)} ms (${f.scroll.domRows} rows in the DOM) | |

The machine has two cores shared with whatever else runs (here a Rust build at times), so
single figures vary; the medians are steady from run to run. A sort or filter is one
\`POST /api/v1/runs/search\` for the first 100 rows (and, apart, one counting the matches, which
the rows do not wait for); the rest is the browser: the request, parsing, rendering the visible
rows, and the frame that shows them.

Reproduce: \`cd web && npm ci && npm run perf\` (the first run fills \`web/perf-store/\` through the
API, several minutes on a debug build; later runs reuse it; \`--refill\` starts over). Set
\`CAIRN_BIN\` to measure another binary (a release build answers faster).
`;
  writeFileSync(path.join(WEB, "PERF.md"), text);
  console.log("wrote PERF.md");
}

await main();
