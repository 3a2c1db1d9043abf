// End-to-end checks of the web UI in Chromium against a real `cairn server`.
//
//   npm run e2e                 (builds dist/ first)
//   CAIRN_BIN=path/to/cairn CHROMIUM=/usr/bin/chromium node e2e/run.mjs [name-filter]
//
// Starts a server on a fresh temporary home and a free port, fills it through the REST
// API (e2e/fill.mjs), opens the pages and checks what they show against what was
// recorded. Screenshots of the main pages go to e2e-artifacts/. Prints each check and
// exits non-zero when any fails; the server, browser and temporary folders are removed
// either way.

import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { launch } from "./browser.mjs";
import { fill, fillSweep, PROJECT, REFUSED, SWEEP } from "./fill.mjs";
import { cairnBin, client, startServer, uiServer, WEB } from "./lib.mjs";

const OUT = path.join(WEB, "e2e-artifacts");
rmSync(OUT, { recursive: true, force: true });
mkdirSync(OUT, { recursive: true });
const only = process.argv[2] ?? "";

const results = [];
let srv;
let ui;
let browser;

function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}
function eq(actual, expected, what) {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Error(`${what}: expected ${e}, got ${a}`);
}

async function cleanup() {
  await browser?.close().catch(() => {});
  await ui?.stop().catch(() => {});
  await srv?.stop().catch(() => {});
}
process.on("SIGINT", async () => {
  await cleanup();
  process.exit(130);
});

try {
  srv = await startServer();
  const made = await fill(srv.url);
  const sweep = await fillSweep(srv.url);
  const api = client(srv.url);
  ui = await uiServer(srv.url);
  console.log(`cairn server ${srv.url}; UI ${ui.url}${ui.proxied ? " (dist/ served by the test, API proxied: the server does not serve web/dist yet)" : ""}`);
  browser = await launch({ width: 1280, height: 800 });
  const { ctx } = browser;
  const page = ctx.pages()[0] ?? (await ctx.newPage());
  page.setDefaultTimeout(10_000);
  const pageErrors = [];
  page.on("pageerror", (e) => pageErrors.push(e.message));
  const U = (p) => ui.url + p;
  const shot = (name) => page.screenshot({ path: path.join(OUT, `${name}.png`) });
  const rowNames = () => page.$$eval(".vt-row[data-run]", (rows) => rows.sort((a, b) => parseFloat(a.style.top) - parseFloat(b.style.top)).map((r) => r.querySelector(".td:nth-child(2)")?.textContent?.trim()));
  const waitRows = (n) => page.waitForFunction((n) => document.querySelector(".vt")?.getAttribute("data-rows") === String(n) && document.querySelector(".vt")?.getAttribute("aria-busy") === "false", n);
  const names = Object.keys(made);
  const byName = (n) => made[n];

  async function check(name, fn) {
    if (only && !name.includes(only)) return;
    const t0 = Date.now();
    try {
      await fn();
      results.push({ name, ok: true });
      console.log(`  ✓ ${name} (${Date.now() - t0} ms)`);
    } catch (e) {
      results.push({ name, ok: false, error: e });
      console.log(`  ✗ ${name}\n      ${String(e?.message ?? e).split("\n").join("\n      ")}`);
      if (srv.proc.exitCode !== null || srv.proc.signalCode !== null) {
        console.log(`      (the cairn server is gone: exit ${srv.proc.exitCode ?? srv.proc.signalCode}; its log ends:\n      ${srv.log().trim().split("\n").slice(-3).join("\n      ")})`);
      }
      await page.screenshot({ path: path.join(OUT, `FAILED-${name.replace(/[^a-z0-9]+/gi, "-")}.png`) }).catch(() => {});
    }
  }

  await check("home lists the project", async () => {
    await page.goto(U("/"));
    await page.locator(`#projects [data-project="${PROJECT}"]`).waitFor();
    const text = await page.locator(`[data-project="${PROJECT}"]`).innerText();
    assert(text.includes(`${names.length} runs`), `project card says: ${text}`);
  });

  await check("dashboard shows counts, progress, running and flagged runs", async () => {
    await page.goto(U(`/p/${PROJECT}`));
    await page.locator("#dashboard").waitFor();
    await page.locator("#recent-runs li").first().waitFor();
    const stats = await page.locator(".stat").allInnerTexts();
    assert(stats.some((s) => s.includes(String(names.length)) && s.includes("runs")), `stats: ${stats.join(" | ")}`);
    const nRunning = names.filter((n) => byName(n).status === "running").length;
    assert(stats.some((s) => new RegExp(`^${nRunning}\\s+running now`).test(s.trim())), `running now: ${stats.join(" | ")}`);
    assert(stats.some((s) => /^1\s+failed/.test(s.trim())), `failed: ${stats.join(" | ")}`);
    assert(stats.some((s) => /^1\s+without hypothesis/.test(s.trim())), `no hypothesis: ${stats.join(" | ")}`);
    const recent = await page.locator("#recent-runs li").count();
    eq(recent, 10, "recent runs shown");
    // Progress: the best val/acc over all runs.
    await page.locator("#progress").waitFor();
    const best = Number(await page.locator("#progress").getAttribute("data-best"));
    const expected = Math.max(...names.map((n) => byName(n).lastAcc));
    assert(Math.abs(best - expected) < 1e-9, `best val/acc ${best}, expected ${expected}`);
    const runningText = await page.locator(".card", { hasText: "Running now" }).innerText();
    assert(runningText.includes("live"), `running now card: ${runningText}`);
    const flagged = await page.locator(".card", { hasText: "Needs a look" }).innerText();
    assert(flagged.includes("everything-at-once"), `the run changing several things is flagged: ${flagged}`);
    assert(flagged.includes("quick-try"), `the run without hypothesis is flagged: ${flagged}`);
    // Refused duplicates: listed when the server reports them (SERVER-NEEDS.md §8), explained otherwise.
    await page.waitForFunction(() => !document.querySelector("#refusals")?.textContent?.includes("…"));
    const refused = await page.locator("#refusals").innerText();
    const listed = await page.locator("#refusals li").count();
    if (listed) {
      eq(listed, REFUSED, "refused duplicates listed");
      assert(refused.includes(byName("aug-flip").id.slice(0, 8)), `the refusal names the run it repeats: ${refused}`);
      assert(stats.some((s) => s.includes("duplicates refused")), "refusals counted");
    } else {
      assert(refused.includes("does not list them yet"), `refusals card: ${refused}`);
      console.log("    (this server does not list refused duplicates yet: the card says so)");
    }
    await shot("dashboard");
  });

  await check("runs table filters on the server and sorts by a column", async () => {
    await page.goto(U(`/p/${PROJECT}/runs`));
    await waitRows(names.length);
    await shot("runs");
    const box = page.locator(".filterbox input");
    await box.fill('params.lr < 0.05 and status = "finished"');
    await box.press("Enter");
    const expected = names.filter((n) => byName(n).lr < 0.05 && byName(n).status === "finished");
    await waitRows(expected.length);
    await page.locator("#run-count", { hasText: `${expected.length} runs match` }).waitFor();
    // Sort by val/acc, ascending then descending.
    await page.locator('.th[data-col="metrics.val/acc"]').click();
    await page.waitForFunction(() => location.search.includes("sort=metrics.val%2Facc"));
    await waitRows(expected.length);
    const asc = [...expected].sort((a, b) => byName(a).lastAcc - byName(b).lastAcc);
    await page.waitForFunction((want) => {
      const rows = [...document.querySelectorAll(".vt-row[data-run]")].sort((a, b) => parseFloat(a.style.top) - parseFloat(b.style.top));
      return JSON.stringify(rows.map((r) => r.querySelector(".td:nth-child(2)").textContent.trim())) === JSON.stringify(want);
    }, asc).catch(async () => eq(await rowNames(), asc, "ascending order"));
    await page.locator('.th[data-col="metrics.val/acc"]').click();
    await page.waitForFunction((want) => {
      const rows = [...document.querySelectorAll(".vt-row[data-run]")].sort((a, b) => parseFloat(a.style.top) - parseFloat(b.style.top));
      return JSON.stringify(rows.map((r) => r.querySelector(".td:nth-child(2)").textContent.trim())) === JSON.stringify(want);
    }, [...asc].reverse()).catch(async () => eq(await rowNames(), [...asc].reverse(), "descending order"));
    eq(await page.locator('.th[data-col="metrics.val/acc"]').getAttribute("aria-sort"), "descending", "sort indicator");
  });

  await check("filter box completes keys and shows the server's error", async () => {
    await page.goto(U(`/p/${PROJECT}/runs`));
    await waitRows(names.length);
    const box = page.locator(".filterbox input");
    await box.click();
    await box.pressSequentially("params.optim");
    await page.locator(".suggest li", { hasText: "params.optimizer.name" }).waitFor();
    const offered = await page.locator(".suggest li").allInnerTexts();
    assert(offered.some((t) => t.startsWith("params.optimizer.betas")), `suggestions: ${offered.join(" / ")}`);
    await box.pressSequentially("izer.na");
    await box.press("Tab");
    eq(await box.inputValue(), "params.optimizer.name ", "completed text");
    // Completion puts the caret back on the next frame; let it, before replacing the text
    // (on a loaded machine that frame can land inside `fill`, between its select-all and
    // its typing).
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    await box.fill("params.lr <");
    eq(await box.inputValue(), "params.lr <", "replaced text");
    await box.press("Enter");
    // (An earlier error, from the half-typed filter, may still be shown for a moment.)
    await page
      .locator(".filter-msg.err", { hasText: "expected a value" })
      .waitFor()
      .catch(async () => {
        throw new Error(`error under the box: ${await page.locator(".filter-msg").innerText()}`);
      });
    eq(await box.getAttribute("aria-invalid"), "true", "box marked invalid");
    // Pasting and pressing Enter at once applies what was pasted (not the text before it).
    await page.evaluate(() => {
      const input = document.querySelector(".filterbox input");
      Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, "value").set.call(input, 'owner = "bo"');
      input.dispatchEvent(new Event("input", { bubbles: true }));
      input.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true }));
    });
    await page.waitForFunction(() => new URLSearchParams(location.search).get("q") === 'owner = "bo"');
    await waitRows(names.filter((n) => byName(n).owner === "bo").length);
  });

  await check("group by a param gives counts, mean and spread", async () => {
    await page.goto(U(`/p/${PROJECT}/runs?group=params.aug&gmetric=metrics.val/acc`));
    await page.locator('#groups tr[data-group="none"]').waitFor();
    const cells = await page.locator('#groups tr[data-group="none"] td').allInnerTexts();
    const none = names.filter((n) => byName(n).aug === "none");
    eq(Number(cells[1]), none.length, "runs with aug=none");
    const mean = none.reduce((s, n) => s + byName(n).lastAcc, 0) / none.length;
    assert(Math.abs(Number(cells[3]) - mean) < 1e-3 * Math.abs(mean), `mean ${cells[3]} vs ${mean}`);
    const sd = Math.sqrt(none.reduce((s, n) => s + (byName(n).lastAcc - mean) ** 2, 0) / (none.length - 1));
    assert(Math.abs(Number(cells[4]) - sd) < 1e-3 * sd, `sd ${cells[4]} vs ${sd}`);
    eq(await page.locator("#groups tbody tr").count(), new Set(names.map((n) => byName(n).aug)).size, "one row per value");
    console.log(`    (statistics ${(await page.locator("#groups").getAttribute("data-source")) === "server" ? "from the server's groups endpoint" : "worked out in the browser: this server has no groups endpoint"})`);
    await shot("runs-grouped");
  });

  await check("CSV export has the view's columns and every matching run", async () => {
    await page.goto(U(`/p/${PROJECT}/runs?q=${encodeURIComponent('status = "finished"')}&col=name&col=params.lr&col=metrics.val/acc`));
    const finished = names.filter((n) => byName(n).status === "finished");
    await waitRows(finished.length);
    const [dl] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Export CSV" }).click()]);
    const text = readFileSync(await dl.path(), "utf8");
    const lines = text.trim().split(/\r\n/);
    eq(lines[0], "id,name,params.lr,metrics.val/acc", "CSV header");
    eq(lines.length - 1, finished.length, "CSV rows");
    const base = lines.find((l) => l.includes(",baseline,"));
    assert(base && base.endsWith(`,0.01,${byName("baseline").lastAcc}`), `baseline row: ${base}`);
  });

  await check("run page tabs show the recorded values", async () => {
    const b = byName("baseline");
    await page.goto(U(`/r/${b.short}`));
    await page.locator("#hypothesis").waitFor();
    assert((await page.locator("#hypothesis").innerText()).includes("baseline: none augmentation with lr 0.01 improves val/acc"), "hypothesis");
    assert((await page.locator("#command").innerText()).includes("python train.py --lr 0.01"), "command");
    await shot("run-overview");

    await page.locator('.tabs [data-tab="config"]').click();
    await page.locator('.tree [data-key="optimizer.name"]').waitFor();
    assert((await page.locator('.tree [data-key="optimizer.name"]').innerText()).includes('"adam"'), "config value optimizer.name");
    await page.locator('input[aria-label="Search config"]').fill("depth");
    await page.waitForFunction(() => document.querySelectorAll(".tree [data-key]").length === 1);
    eq(await page.locator(".tree [data-key]").getAttribute("data-key"), "model.depth", "config search");
    assert(new URL(page.url()).searchParams.get("cfg") === "depth", "config search in the URL");

    await page.locator('.tabs [data-tab="code"]').click();
    await page.locator("#code-diff tr.add").first().waitFor();
    const added = await page.locator("#code-diff tr.add").allInnerTexts();
    assert(added.some((t) => t.includes("sched = CosineAnnealingLR(opt, T_max=100)")), `added lines: ${added.join(" / ")}`);
    const deleted = await page.locator("#code-diff tr.del").allInnerTexts();
    assert(deleted.some((t) => t.includes("StepLR(opt, step_size=30)")), `deleted lines: ${deleted.join(" / ")}`);
    assert((await page.locator("#commit").innerText()).startsWith("8b7e2104"), "commit");
    assert((await page.locator("#code-diff .tk-kw").count()) > 0, "syntax colours in the diff");
    await shot("run-code");

    await page.locator('.tabs [data-tab="data"]').click();
    await page.locator("[data-dataset] td", { hasText: "train/labels.csv" }).waitFor();
    assert((await page.locator("[data-dataset]").innerText()).includes("5e1f0c2b9a8d7e6f"), "dataset fingerprint");

    await page.locator('.tabs [data-tab="environment"]').click();
    await page.locator("#environment").waitFor();
    const env = await page.locator("#environment").innerText();
    assert(env.includes("NVIDIA A100-SXM4-80GB") && env.includes("torch") && env.includes("AMD EPYC"), "environment: GPU, packages, CPU");

    await page.locator('.tabs [data-tab="metrics"]').click();
    await page.waitForFunction(() => [...document.querySelectorAll(".chart-box")].length === 3 && [...document.querySelectorAll(".chart-box")].every((c) => c.getAttribute("data-series") === "1"));
    eq(Number(await page.locator('.chart-box[data-metric="val/acc"]').getAttribute("data-points")), b.logged, "points drawn");
    await shot("run-metrics");

    await page.locator('.tabs [data-tab="system"]').click();
    await page.waitForFunction(() => [...document.querySelectorAll(".chart-box")].map((c) => c.getAttribute("data-metric")).sort().join() === "system/cpu_percent,system/memory_bytes");

    await page.locator('.tabs [data-tab="logs"]').click();
    await page.waitForFunction(() => document.querySelector("#log")?.textContent?.includes("baseline finished with val/acc"));

    await page.locator('.tabs [data-tab="artifacts"]').click();
    await page.locator('#artifact-list [data-path="plots"]').click();
    await page.locator('#artifact-list [data-path="plots/confusion.png"]').click();
    await page.waitForFunction(() => document.querySelector("#artifact-preview img")?.naturalWidth === 48);
    eq(new URL(page.url()).searchParams.get("path"), "plots/confusion.png", "artifact path in the URL");
    await shot("run-artifacts");
    await page.goto(U(`/r/${b.short}?tab=artifacts&path=results/per_class.csv`));
    await page.locator("#csv-preview td", { hasText: "spot, small" }).waitFor();

    await page.goto(U(`/r/${b.short}?tab=lineage`));
    await page.locator(`#lineage [data-run="${byName("aug-flip").short}"]`).click();
    await page.waitForURL((u) => u.pathname === `/r/${byName("aug-flip").short}`);
    await page.locator("#run-name", { hasText: "aug-flip" }).waitFor();
  });

  await check("two runs overlaid: selection, charts panel, compare view", async () => {
    await page.goto(U(`/p/${PROJECT}/runs`));
    await waitRows(names.length);
    for (const n of ["baseline", "aug-mixup"]) await page.locator(`.vt-row[data-run="${byName(n).short}"] input[type=checkbox]`).click();
    await page.waitForFunction(() => new URLSearchParams(location.search).get("sel")?.split(",").length === 2);
    await page.getByRole("button", { name: "Charts" }).click();
    await page.waitForFunction(() => document.querySelector('.chart-box[data-metric="val/acc"]')?.getAttribute("data-series") === "2");
    eq(Number(await page.locator('.chart-box[data-metric="val/acc"]').getAttribute("data-points")), 2 * byName("baseline").logged, "points of two runs");
    await shot("runs-charts");
    await page.locator("a.btn", { hasText: "Compare" }).click();
    await page.locator("#compare").waitFor();
    await page.locator('#config-diff tr[data-key="aug"]').waitFor();
    const aug = await page.locator('#config-diff tr[data-key="aug"]').innerText();
    assert(aug.includes("none") && aug.includes("mixup"), `config difference: ${aug}`);
    eq(await page.locator('#config-diff tr[data-key="lr"]').count(), 0, "identical values folded away");
    await page.locator('#compare .chart-box[data-metric="val/acc"]').scrollIntoViewIfNeeded();
    await page.waitForFunction(() => document.querySelector('#compare .chart-box[data-metric="val/acc"]')?.getAttribute("data-series") === "2");
    // Hovering shows both runs' values at that step.
    const chart = page.locator('#compare .chart-box[data-metric="val/acc"]');
    const over = chart.locator(".u-over");
    const ob = await over.boundingBox();
    await page.mouse.move(ob.x + ob.width * 0.5, ob.y + ob.height * 0.5);
    await page.locator("#compare .chart-tip .r").first().waitFor();
    const tip = await chart.locator(".chart-tip").innerText();
    const step = Number(/step (\d+)/.exec(tip)?.[1]);
    assert(step > 50 && step < 150, `tooltip step: ${tip}`);
    const fmt = (v) => String(Number(v.toPrecision(4)));
    for (const n of ["baseline", "aug-mixup"]) {
      assert(tip.includes(n) && tip.includes(fmt(byName(n).curves.acc[step])), `tooltip has ${n} = ${fmt(byName(n).curves.acc[step])} at step ${step}: ${tip}`);
    }
    // Smoothing draws the EMA over a faint raw line: two lines a run.
    await page.locator('#compare input[aria-label="EMA smoothing"]').fill("0.8");
    await page.waitForFunction(() => document.querySelector('#compare .chart-box[data-metric="val/acc"]')?.getAttribute("data-lines") === "4");
    const summary = await page.locator("#summaries").innerText();
    const delta = byName("aug-mixup").lastAcc - byName("baseline").lastAcc;
    assert(summary.includes((delta > 0 ? "+" : "") + Number(delta.toPrecision(4))), `delta ${delta} in summaries: ${summary}`);
    await shot("compare");
  });

  await check("brushing a parallel-coordinates axis filters the table", async () => {
    await page.goto(U(`/p/${PROJECT}/runs?panel=parcoords&axis=params.lr&axis=metrics.val/acc`));
    await waitRows(names.length);
    const axis = page.locator('g[data-axis="metrics.val/acc"] rect.hit');
    await axis.waitFor();
    const bb = await axis.boundingBox();
    // Drag over the upper part of the axis: the better runs.
    const x = bb.x + bb.width / 2;
    await page.mouse.move(x, bb.y + 10);
    await page.mouse.down();
    await page.mouse.move(x, bb.y + bb.height * 0.25, { steps: 4 });
    await page.mouse.move(x, bb.y + bb.height * 0.45, { steps: 4 });
    await page.mouse.up();
    await page.waitForFunction(() => new URLSearchParams(location.search).get("brush"));
    const brush = JSON.parse(new URL(page.url()).searchParams.get("brush"));
    eq(brush.length, 1, "one brush");
    const [lo, hi] = brush[0].range;
    const expected = names.filter((n) => byName(n).lastAcc >= lo && byName(n).lastAcc <= hi);
    assert(expected.length > 0 && expected.length < names.length, `brush [${lo}, ${hi}] should keep some runs (keeps ${expected.length})`);
    await waitRows(expected.length);
    eq((await rowNames()).sort(), [...expected].sort(), "rows after brushing");
    eq(Number(await page.locator(".pc").getAttribute("data-passing")), expected.length, "lines passing the brush");
    await shot("parcoords");
    // And the other way: the table's filter narrows the lines drawn.
    const box = page.locator(".filterbox input");
    await box.fill('owner = "bo"');
    await box.press("Enter");
    const bo = names.filter((n) => byName(n).owner === "bo");
    await page.waitForFunction((n) => document.querySelector(".pc")?.getAttribute("data-lines") === String(n), bo.length);
    // Clicking the axis clears its brush.
    await axis.click();
    await page.waitForFunction(() => !new URLSearchParams(location.search).get("brush"));
    await waitRows(bo.length);
  });

  await check("a copied URL reproduces the view in a fresh page", async () => {
    await page.goto(U(`/p/${PROJECT}/runs`));
    await waitRows(names.length);
    const box = page.locator(".filterbox input");
    await box.fill("metrics.val/acc > 0.8");
    await box.press("Enter");
    await page.locator('.th[data-col="name"]').click();
    await page.locator(`.vt-row[data-run="${byName("aug-flip").short}"] input[type=checkbox]`).click();
    await page.getByRole("button", { name: "Charts" }).click();
    await page.locator('input[aria-label="EMA smoothing"]').fill("0.6");
    await page.locator(".seg button", { hasText: "wall time" }).click();
    await page.waitForFunction(() => new URLSearchParams(location.search).get("x") === "wall");
    const url = page.url();
    const view = async (p) => {
      await p.waitForFunction(() => document.querySelector(".vt")?.getAttribute("aria-busy") === "false" && document.querySelector(".vt-row[data-run]"));
      return {
        filter: await p.locator(".filterbox input").inputValue(),
        rows: await p.$$eval(".vt-row[data-run]", (rows) => rows.sort((a, b) => parseFloat(a.style.top) - parseFloat(b.style.top)).map((r) => r.getAttribute("data-run"))),
        selected: await p.$$eval('.vt-row[aria-selected="true"]', (rows) => rows.map((r) => r.getAttribute("data-run"))),
        columns: await p.$$eval(".vt-head .th[data-col]", (hs) => hs.map((h) => h.getAttribute("data-col"))),
        sorted: await p.$$eval('.vt-head .th[aria-sort="ascending"], .vt-head .th[aria-sort="descending"]', (hs) => hs.map((h) => h.getAttribute("data-col") + " " + h.getAttribute("aria-sort"))),
        smoothing: await p.locator('input[aria-label="EMA smoothing"]').inputValue(),
        x: await p.locator('.seg[aria-label="x axis"] button[aria-pressed="true"]').innerText(),
        panel: await p.locator('.seg[aria-label="Panel"] button[aria-pressed="true"]').innerText(),
      };
    };
    const before = await view(page);
    const fresh = await ctx.newPage();
    try {
      await fresh.goto(url);
      const after = await view(fresh);
      eq(after, before, "view from the copied URL");
      assert(before.rows.length > 0 && before.selected.length === 1 && before.smoothing === "0.6", `the view was set up: ${JSON.stringify(before)}`);
    } finally {
      await fresh.close();
    }
  });

  await check("keyboard: move through the table and open a run", async () => {
    await page.goto(U(`/p/${PROJECT}/runs?sort=name&desc=0`));
    await waitRows(names.length);
    await page.locator(".vt").focus();
    await page.keyboard.press("ArrowDown"); // the first row
    await page.keyboard.press("ArrowDown"); // the second
    await page.keyboard.press(" "); // selects it
    await page.waitForFunction(() => new URLSearchParams(location.search).get("sel"));
    const second = await page.locator('.vt-row[aria-selected="true"]').getAttribute("data-run");
    eq(second, (await page.$$eval(".vt-row[data-run]", (rows) => rows.sort((a, b) => parseFloat(a.style.top) - parseFloat(b.style.top)).map((r) => r.getAttribute("data-run"))))[1], "space selected the second row");
    await page.keyboard.press("Enter");
    await page.waitForURL((u) => u.pathname === `/r/${second}`, { waitUntil: "commit" });
    await page.locator("#run-name").waitFor();
  });

  async function watchGrow(p, name) {
    const live = byName(name);
    await p.goto(U(`/r/${live.short}?tab=metrics`));
    const chart = p.locator('.chart-box[data-metric="val/acc"]');
    const points = (n) => p.waitForFunction((n) => document.querySelector('.chart-box[data-metric="val/acc"]')?.getAttribute("data-points") === String(n), n, { timeout: 15_000 });
    await points(live.logged);
    const cv = live.curves;
    const from = live.logged;
    const to = from + 40;
    await api.post(`/api/v1/runs/${live.id}/metrics`, { series: [{ key: "val/acc", steps: cv.steps.slice(from, to), values: cv.acc.slice(from, to) }] });
    await points(to);
    await api.post(`/api/v1/runs/${live.id}/metrics`, { series: [{ key: "val/acc", steps: cv.steps.slice(to, to + 20), values: cv.acc.slice(to, to + 20) }] });
    await points(to + 20);
    assert((await chart.getAttribute("data-series")) === "1", "one series");
    // The output log, as `cairn run` ships it while the command runs: re-stored as it grows.
    await p.locator('.tabs [data-tab="logs"]').click();
    const log1 = "epoch 1/20 loss 2.10\n";
    await api.put(`/api/v1/runs/${live.id}/artifacts/logs/output.log`, log1);
    await p.waitForFunction(() => document.querySelector("#log")?.textContent?.includes("epoch 1/20"), null, { timeout: 15_000 });
    await api.put(`/api/v1/runs/${live.id}/artifacts/logs/output.log`, log1 + "epoch 2/20 loss 1.44\n");
    await p.waitForFunction(() => document.querySelector("#log")?.textContent === "epoch 1/20 loss 2.10\nepoch 2/20 loss 1.44\n", null, { timeout: 15_000 });
    await api.post(`/api/v1/runs/${live.id}/finish`, { status: "finished" });
    await p.locator("h1 .status.finished").waitFor({ timeout: 15_000 });
  }

  await check("a running run's chart grows and its status changes without reloading", async () => {
    const sse = [];
    const onReq = (r) => r.url().endsWith("/events") && sse.push(r.url());
    page.on("request", onReq);
    try {
      await watchGrow(page, "live");
    } finally {
      page.off("request", onReq);
    }
    await shot("run-live");
    console.log(`    (${sse.length ? "through the server's event stream" : "by polling: this server has no event stream"})`);
  });

  await check("without an event stream, polling keeps a running run up to date", async () => {
    const p = await ctx.newPage();
    try {
      // A server without GET …/events (as before SERVER-NEEDS.md §2 landed).
      await p.route("**/api/v1/runs/*/events", (r) => r.fulfill({ status: 404, contentType: "application/json", body: '{"error":{"code":"not_found","message":"no endpoint"}}' }));
      await watchGrow(p, "live-2");
    } finally {
      await p.close();
    }
  });

  await check("chart zoom re-fetches the range and resets", async () => {
    const d = byName("deep-8");
    await page.goto(U(`/r/${d.short}?tab=metrics&keys=train/loss`));
    const box = page.locator('.chart-box[data-metric="train/loss"]');
    await page.waitForFunction(() => document.querySelector('.chart-box[data-metric="train/loss"]')?.getAttribute("data-series") === "1");
    eq(Number(await box.getAttribute("data-total")), d.longPoints, "points in the series");
    const full = Number(await box.getAttribute("data-points"));
    assert(full < d.longPoints && full >= 100, `read downsampled: ${full} points drawn`);
    const over = page.locator('.chart-box[data-metric="train/loss"] .u-over');
    const bb = await over.boundingBox();
    await page.mouse.move(bb.x + bb.width * 0.2, bb.y + bb.height / 2);
    await page.mouse.down();
    await page.mouse.move(bb.x + bb.width * 0.3, bb.y + bb.height / 2, { steps: 5 });
    await page.mouse.up();
    await page.waitForFunction(() => new URLSearchParams(location.search).get("xr"));
    const [lo, hi] = new URL(page.url()).searchParams.get("xr").split(":").map(Number);
    assert(lo > 0.1 * d.longPoints && hi < 0.4 * d.longPoints && lo < hi, `zoomed range ${lo}:${hi}`);
    // The points of the zoomed range are read again, at the chart's resolution.
    await page.waitForFunction(() => document.querySelector('.chart-box[data-metric="train/loss"]')?.getAttribute("data-range") !== "full");
    const [rlo, rhi] = (await box.getAttribute("data-range")).split(":").map(Number);
    eq([rlo, rhi], [Math.floor(lo), Math.ceil(hi)], "step range read");
    eq(Number(await box.getAttribute("data-total")), rhi - rlo + 1, "points in the range before downsampling");
    // Double-click resets the zoom.
    await box.dblclick({ position: { x: bb.width / 2, y: 120 } });
    await page.waitForFunction(() => !new URLSearchParams(location.search).get("xr"));
    await page.waitForFunction(() => document.querySelector('.chart-box[data-metric="train/loss"]')?.getAttribute("data-range") === "full");
  });

  await check("dark theme toggle", async () => {
    await page.goto(U(`/p/${PROJECT}`));
    await page.locator("#dashboard").waitFor();
    const bg = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    const light = await bg();
    await page.locator("#theme-toggle").click(); // auto → light
    await page.locator("#theme-toggle").click(); // light → dark
    eq(await page.evaluate(() => document.documentElement.dataset.theme), "dark", "theme attribute");
    const dark = await bg();
    assert(light !== dark, `background changes (${light} → ${dark})`);
    await page.locator("#recent-runs li").first().waitFor();
    await shot("dashboard-dark");
    await page.locator("#theme-toggle").click(); // back to auto
  });

  // ---- statistics pages (issue 6), on the sweep project of fill.mjs ----
  const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const groupMean = (k) => mean(sweep[k].map((r) => r.value));
  const signed = (v, d = 3) => (v > 0 ? "+" : "") + String(Number(v.toPrecision(d)));

  await check("insights rank the parameter the score depends on first", async () => {
    await page.goto(U(`/p/${SWEEP}/insights`));
    await page.locator("#importance .imp-row").first().waitFor();
    const order = await page.$$eval("#importance .imp-row", (rows) => rows.map((r) => [r.getAttribute("data-param"), Number(r.getAttribute("data-share"))]));
    // The score moves 0.1 a decade of x1, 0.012 with x2, not at all with x3.
    eq(order.map((o) => o[0]), ["x1", "x2", "x3"], "importance ranking");
    assert(order[0][1] > 0.8, `x1 explains most of the variance: ${order[0][1]}`);
    eq(await page.locator("#insights-note").count(), 0, "no too-few-runs note with 36 runs");
    const under = await page.locator("#underperformers").innerText();
    assert(/x1 = 0\.001/.test(under), `the smallest x1 underperforms: ${under}`);
    const sub = await page.locator("#insights .sub").innerText();
    assert(sub.includes("36 runs analysed"), `analysed count: ${sub}`);
    await page.locator("#surprises tbody tr").first().waitFor();
    await shot("insights");
    // A surprise links to its run.
    const first = await page.locator("#surprises tbody tr").first().getAttribute("data-run");
    await page.locator("#surprises tbody tr a").first().click();
    await page.waitForFunction((id) => location.pathname === `/r/${id}`, first);
    await page.locator("h1", { hasText: "x1=" }).waitFor();
    // With few runs the page says not to trust the ranking.
    await page.goto(U(`/p/${PROJECT}/insights`));
    await page.locator("#insights-note").waitFor();
    const note = await page.locator("#insights-note").innerText();
    assert(/only \d+ runs/.test(note), `too-few-runs note: ${note}`);
  });

  await check("an ablation waterfall and factorial effects render from the studies", async () => {
    await page.goto(U(`/p/${SWEEP}/insights`));
    const wf = page.locator("#waterfall-x1-x2");
    await wf.waitFor();
    const bars = await wf.locator("g[data-kind]").evaluateAll((gs) => gs.map((g) => [g.getAttribute("data-kind"), g.getAttribute("data-label")]));
    eq(bars, [["start", "base"], ["step", "x1: 0.001 → 0.1"], ["step", "x2: 0 → 1"], ["interaction", "interaction"], ["end", "candidate"]], "waterfall bars");
    eq(await wf.locator("g[data-kind=step] line").count() >= 6, true, "CI whiskers on the steps");
    const study = await page.locator('.study[data-study="x1-x2"]').innerText();
    const addX1 = groupMean("0.1/0/a") - groupMean("0.001/0/a");
    assert(study.includes(signed(addX1)), `x1 added alone: ${signed(addX1)} in ${study}`);
    assert(!study.includes("without a value"), `every study run has the metric: ${study}`);
    const fx = page.locator("#effects-x2-by-x3");
    await fx.waitFor();
    const terms = await fx.locator("g[data-term]").evaluateAll((gs) => gs.map((g) => [g.getAttribute("data-term"), Number(g.getAttribute("data-estimate"))]));
    eq(terms.map((t) => t[0]), ["x2: 0 → 1", "x3: a → b", "x2 × x3"], "effect terms");
    const x2 = (groupMean("0.01/1/a") + groupMean("0.01/1/b")) / 2 - (groupMean("0.01/0/a") + groupMean("0.01/0/b")) / 2;
    assert(Math.abs(terms[0][1] - x2) < 1e-9, `x2 effect ${terms[0][1]}, expected ${x2}`);
    const anova = await page.locator("#anova-x2-by-x3").innerText();
    assert(anova.includes("residual") && anova.includes("x2 × x3"), `ANOVA table: ${anova}`);
    await page.locator('.study[data-study="x2-by-x3"]').screenshot({ path: path.join(OUT, "factorial.png") });
  });

  const baseRun = sweep["0.001/0/a"][0];
  const bestRuns = sweep["0.1/1/a"];

  // The baseline is named through the CLI against the server's store, once (checks may run alone).
  let baselineSet = false;
  const ensureBaseline = () => {
    if (baselineSet) return;
    const out = execFileSync(cairnBin(), ["baseline", "set", baseRun.short, "--project", SWEEP], { env: { ...process.env, CAIRN_HOME: srv.home }, encoding: "utf8" });
    assert(out.includes(baseRun.short), `cairn baseline set: ${out}`);
    baselineSet = true;
  };

  await check("the weekly review lists an improvement over a baseline set with the CLI", async () => {
    ensureBaseline();
    await page.goto(U(`/p/${SWEEP}/review`));
    await page.locator("#improvements tr[data-runs]").first().waitFor();
    const rows = await page.locator("#improvements tr[data-runs]").evaluateAll((trs) => trs.map((t) => t.getAttribute("data-runs")));
    const best = rows.find((r) => r.split(",").includes(bestRuns[0].short));
    assert(best, `the best configuration is listed: ${rows.join(" | ")}`);
    const row = await page.locator(`#improvements tr[data-runs="${best}"]`).innerText();
    const diff = groupMean("0.1/1/a") - groupMean("0.001/0/a");
    assert(row.includes("better") && row.includes(signed(diff)) && row.includes("[") && row.includes("3 vs 3"), `improvement row (Δ ${signed(diff)}): ${row}`);
    // Each item links to its runs.
    eq(await page.locator(`#improvements tr[data-runs="${best}"] a[href="/r/${bestRuns[0].short}"]`).count(), 1, "link to the run");
    const sub = await page.locator("#review .sub").innerText();
    assert(sub.includes("against baseline") && sub.includes(baseRun.short), `baseline named: ${sub}`);
    await shot("review");
    // Copy as Markdown fetches the server's Markdown.
    await page.locator("#copy-markdown").click();
    await page.waitForFunction(() => typeof window.__cairnLastCopy === "string");
    const md = await page.evaluate(() => window.__cairnLastCopy);
    assert(md.startsWith("# Weekly review: sweep") && md.includes(bestRuns[0].short), `markdown: ${md.slice(0, 200)}`);
    // The days selector is in the URL.
    await page.locator("#review-days").selectOption("30");
    await page.waitForFunction(() => new URLSearchParams(location.search).get("days") === "30");
    await page.locator("#review[aria-busy=false] #improvements").waitFor();
  });

  await check("the insights page draws the baseline line with its re-evaluation", async () => {
    ensureBaseline();
    // What `cairn baseline reeval` records (it needs a training script to run; the Rust side tests that).
    const reeval = {
      at: Date.now(),
      batch: "e2e",
      metric: "score",
      runs: [],
      failed: [],
      summary: "DRIFT: today's baseline is worse than recorded (score Δ -0.0200, 95% CI [-0.0300, -0.0100], p 0.0010)",
      comparison: { n_candidate: 3, n_reference: 3, mean_candidate: 0.5775, mean_reference: 0.5975, diff: -0.02, ci: [-0.03, -0.01], p: 0.001, method: "welch", verdict: "worse", sd: 0.004, replicates_needed: 2, within_noise: false },
      conditions_changed: ["package torch 2.3.0 → 2.4.0"],
    };
    await api.patch(`/api/v1/projects/${SWEEP}`, { tags: { "cairn.baseline.last_reeval": JSON.stringify(reeval) } });
    await page.goto(U(`/p/${SWEEP}/insights`));
    await page.locator("#baseline-chart").waitFor();
    const line = Number(await page.locator("#baseline-chart").getAttribute("data-baseline"));
    assert(Math.abs(line - groupMean("0.001/0/a")) < 1e-9, `baseline line at ${line}, expected ${groupMean("0.001/0/a")}`);
    const marks = await page.$$eval("#baseline-chart g.marker", (gs) => gs.map((g) => [g.getAttribute("data-kind"), g.getAttribute("data-verdict"), g.textContent]));
    assert(marks.some((m) => m[0] === "set"), `a marker where the baseline was set: ${JSON.stringify(marks)}`);
    assert(marks.some((m) => m[0] === "reeval" && m[1] === "worse" && m[2].includes("drift")), `a drift marker: ${JSON.stringify(marks)}`);
    const card = await page.locator("#reeval").innerText();
    assert(card.includes("worse") && card.includes("torch 2.3.0 → 2.4.0") && card.includes("p = 0.001"), `re-evaluation: ${card}`);
    await page.locator("#baseline-card").screenshot({ path: path.join(OUT, "baseline.png") });
  });

  await check("the compare view shows a verdict with a CI and a p-value", async () => {
    const same = sweep["0.001/0/b"][0];
    await page.goto(U(`/p/${SWEEP}/compare?runs=${baseRun.short},${bestRuns[0].short},${same.short}`));
    await page.locator("#stats-table tr[data-side=candidate]").nth(1).waitFor();
    const better = page.locator(`#stats-table tr[data-side=candidate][data-runs*="${bestRuns[0].short}"]`);
    eq(await better.getAttribute("data-verdict"), "better", "verdict of the best configuration");
    const text = await better.innerText();
    const diff = groupMean("0.1/1/a") - groupMean("0.001/0/a");
    assert(text.includes(signed(diff)) && /\[\+[\d.]+, \+[\d.]+\]/.test(text), `Δ with CI: ${text}`);
    assert(/< 0\.001/.test(await better.locator("td.pval").innerText()), `p-value: ${text}`);
    assert(text.includes("better") && text.includes(" ± "), `mean ± CI and verdict: ${text}`);
    const noise = await page.locator(`#stats-table tr[data-side=candidate][data-runs*="${same.short}"]`).innerText();
    assert(noise.includes(same.short) && noise.includes("3"), `a replicated run brings its group: ${noise}`);
    assert(noise.includes("not distinguishable from noise") && noise.includes("within the noise floor"), `x3 changes nothing: ${noise}`);
    const floor = await page.locator("#noise-floor").innerText();
    assert(/Noise floor .* 12 replicate groups/.test(floor) && floor.includes("Holm"), `noise floor line: ${floor}`);
    await page.locator("#compare-stats").screenshot({ path: path.join(OUT, "compare-stats.png") });
    // Against the project's baseline instead of the first run.
    ensureBaseline();
    await page.locator("#vs-baseline").check();
    await page.waitForFunction(() => new URLSearchParams(location.search).get("vsbase") === "1");
    await page.locator("#stats-table tr[data-side=candidate]").nth(2).waitFor();
    const ref = await page.locator("#stats-table tr[data-side=reference]").innerText();
    assert(ref.includes("baseline"), `reference is the baseline: ${ref}`);
    // Single runs: no interval, and no verdict pretending to certainty.
    await page.goto(U(`/p/${PROJECT}/compare?runs=${byName("baseline").short},${byName("aug-mixup").short}`));
    await page.locator("#stats-table tr[data-side=candidate]").waitFor();
    const single = await page.locator("#stats-table").innerText();
    assert(single.includes("1 run — no interval") && single.includes("cannot tell"), `single runs: ${single}`);
  });

  await check("runs shown together get distinct colours", async () => {
    // baseline and aug-mixup were both brown before the palette.
    await page.goto(U(`/p/${PROJECT}/compare?runs=${byName("baseline").short},${byName("aug-mixup").short}`));
    await page.locator("#compare .cmp-table tbody tr[data-run]").nth(1).waitFor();
    const sw = await page.$$eval("#compare .cmp-table tbody tr[data-run] .swatch", (els) => els.map((e) => getComputedStyle(e).backgroundColor));
    eq(sw.length, 2, "swatches");
    assert(sw[0] !== sw[1], `distinct colours: ${sw.join(" vs ")}`);
    await page.goto(U(`/p/${PROJECT}/compare?runs=${names.slice(0, 10).map((n) => byName(n).short).join(",")}`));
    await page.locator("#compare .cmp-table tbody tr[data-run]").nth(9).waitFor();
    const ten = await page.$$eval("#compare .cmp-table tbody tr[data-run] .swatch", (els) => els.map((e) => getComputedStyle(e).backgroundColor));
    eq(new Set(ten).size, 10, `ten runs, ten colours (${ten.join(", ")})`);
  });

  await check("dashboard and runs table show deltas to the baseline", async () => {
    ensureBaseline();
    const base = groupMean("0.001/0/a");
    await page.goto(U(`/p/${SWEEP}`));
    await page.locator("#recent-runs li .delta").first().waitFor();
    const stats = await page.locator(".stat").allInnerTexts();
    assert(stats.some((s) => s.includes("baseline") && s.includes(String(Number(base.toPrecision(4))))), `baseline stat (${base}): ${stats.join(" | ")}`);
    const all = Object.values(sweep).flat();
    const deltas = await page.$$eval("#recent-runs li[data-run]", (lis) => lis.map((li) => [li.getAttribute("data-run"), Number(li.querySelector(".delta")?.getAttribute("data-delta"))]));
    eq(deltas.length, 10, "recent runs with a delta");
    for (const [short, d] of deltas) {
      const r = all.find((x) => x.short === short);
      assert(Math.abs(d - (r.value - base)) < 1e-9, `Δ of ${short}: ${d}, expected ${r.value - base}`);
    }
    await page.goto(U(`/p/${SWEEP}/runs?dbase=1&sort=${encodeURIComponent("metrics.score")}&desc=1`));
    await waitRows(36);
    await page.locator('.th[data-col="Δ baseline"]').waitFor();
    const top = await page.locator(".vt-row[data-run] .delta").first().getAttribute("data-delta");
    const best = Math.max(...all.map((r) => r.value));
    assert(Math.abs(Number(top) - (best - base)) < 1e-9, `top row's Δ ${top}, expected ${best - base}`);
  });

  await check("a run page shows its replicate group, and says when it is alone", async () => {
    await page.goto(U(`/r/${bestRuns[1].short}`));
    await page.locator('#replicate-group[data-n="3"]').waitFor();
    const g = await page.locator("#replicate-group").innerText();
    const vs = bestRuns.map((r) => r.value);
    assert(g.includes("n = 3") && g.includes(`mean ${Number(mean(vs).toPrecision(4))}`) && g.includes("95% CI"), `group: ${g}`);
    // A group of one (created last: it changes the sweep).
    const lone = await api.post("/api/v1/runs", { project: SWEEP, name: "lone", config: { x1: 0.01, x2: 0, x3: "c" }, group_id: "replicates-lone", seeds: [0] });
    await api.post(`/api/v1/runs/${lone.id}/metrics`, { series: [{ key: "score", steps: [0], values: [0.7] }] });
    await api.post(`/api/v1/runs/${lone.id}/finish`, { status: "finished", exit_code: 0 });
    await page.goto(U(`/r/${lone.short_id}`));
    await page.locator('#replicate-group[data-n="1"]').waitFor();
    const one = await page.locator("#replicate-group").innerText();
    assert(one.includes("one run proves nothing alone"), `lone run: ${one}`);
  });

  await check("a server that requires signing in shows the sign-in page, then the projects and who is signed in", async () => {
    const { execFileSync } = await import("node:child_process");
    const { mkdtempSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const home = mkdtempSync(path.join(tmpdir(), "cairn-e2e-auth-"));
    execFileSync(cairnBin(), ["admin", "users", "add", "ada", "--admin", "--password-stdin", "--store", path.join(home, "cairn.db")], {
      input: "ada-password-1\n",
      env: { ...process.env, CAIRN_HOME: home },
    });
    const team = await startServer({ home, args: ["--auth"] });
    try {
      const p = await ctx.newPage();
      await p.goto(team.url + "/");
      await p.locator("#signin").waitFor();
      await p.fill("#signin-user", "ada");
      await p.fill("#signin-password", "wrong-password");
      await p.click("#signin-submit");
      await p.locator("#signin-error").waitFor();
      assert((await p.textContent("#signin-error")).includes("wrong user name or password"), "says the password is wrong");
      await p.fill("#signin-password", "ada-password-1");
      await p.click("#signin-submit");
      await p.locator("#account").waitFor();
      assert((await p.textContent("#account")).includes("ada"), "shows who is signed in");
      assert((await p.locator("#signin").count()) === 0, "the sign-in page is gone");
      await p.screenshot({ path: path.join(OUT, "signed-in.png") });
      await p.click("#sign-out");
      await p.locator("#signin").waitFor();
      await p.close();
    } finally {
      await team.stop();
    }
  });

  await check("the queue, agents and usage pages show a real agent's jobs and why one waits", async () => {
    const { spawn } = await import("node:child_process");
    const { mkdtempSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const home = mkdtempSync(path.join(tmpdir(), "cairn-e2e-agent-"));
    const agent = spawn(cairnBin(), ["agent", "--server", srv.url, "--name", "e2e-box", "--gpus", "fake:2", "--cpus", "4", "--mem", "4G", "--poll-ms", "100"], {
      env: { ...process.env, CAIRN_HOME: home },
      stdio: "ignore",
    });
    try {
      for (let i = 0; i < 100 && (await api.get("/api/v1/agents")).agents.length === 0; i++) await new Promise((r) => setTimeout(r, 100));
      const job = (name) => ({ run: { project: "compute", name, hypothesis: "the runner runs it", command: ["sleep", "30"] }, resources: { gpus: 2 }, team: "vision", workdir: home });
      const first = await api.post("/api/v1/jobs", job("long-training"));
      const second = await api.post("/api/v1/jobs", job("waits-for-gpus"));
      await page.goto(U("/queue"));
      await page.locator(`#queue tr[data-job="${first.short_id}"][data-state="running"]`).waitFor();
      const waiting = await page.locator(`#queue tr[data-job="${second.short_id}"]`).innerText();
      assert(/queued/.test(waiting) && /waiting for resources|waiting behind/.test(waiting), `the waiting job says why: ${waiting}`);
      await shot("queue");
      await page.click('nav[aria-label="Compute"] a[href="/agents"]');
      const row = page.locator('#agents tr[data-agent="e2e-box"]');
      await row.waitFor();
      const text = await row.innerText();
      assert(/2\/2/.test(text) && text.includes(first.short_id) && /pretend GPUs/.test(text), `the agent row: ${text}`);
      await shot("agents");
      await page.goto(U("/usage?by=team"));
      const usage = await page.locator('#usage tr[data-key="vision"]').innerText();
      assert(/^vision\s+1\b/.test(usage.trim()), `usage by team: ${usage}`);
      await shot("usage");
    } finally {
      agent.kill("SIGKILL");
    }
  });

  await check("a project of 6,000 runs: the scrollbar covers every run, a jump shows the rows there, parallel coordinates say their sample", async () => {
    const BIG = "e2e-big";
    await api.post("/api/v1/projects", { name: BIG, description: "many runs" });
    for (let b = 0; b < 6; b++) {
      const runs = Array.from({ length: 1000 }, (_, j) => {
        const i = b * 1000 + j;
        return { project: BIG, name: `big-${i}`, hypothesis: "many runs scroll", config: { lr: 10 ** (-4 + (i % 7) / 3), aug: ["none", "mixup", "flip"][i % 3] }, status: "finished", metrics: { acc: 0.5 + (i % 101) / 250 }, created_at: 1_700_000_000_000 + i * 1000 };
      });
      await api.post("/api/v1/runs/batch", { runs });
    }
    await page.goto(U(`/p/${BIG}/runs`));
    await page.waitForFunction(() => document.querySelector(".vt")?.getAttribute("data-rows") === "6000");
    // Far past the rows paged in so far: the table fetches that position.
    const at = 4500;
    const want = (await api.post("/api/v1/runs/search", { project: BIG, limit: 1, offset: at, fields: [] })).runs[0].name;
    eq(want, `big-${5999 - at}`, "the server's run at that position, newest first");
    await page.evaluate((at) => {
      const vt = document.querySelector(".vt");
      vt.scrollTop = (at * 30) / Number(vt.dataset.scale || 1);
    }, at);
    const row = page.locator(`.vt-row[aria-rowindex="${at + 2}"]`);
    await row.waitFor();
    eq((await row.locator("a").first().innerText()).trim(), want, `row ${at} after the jump`);
    const loaded = await page.locator("#run-count").innerText();
    assert(/6,000 runs/.test(loaded) && /loaded in order/.test(loaded), `the count says how many runs and how many were paged in: ${loaded}`);
    // Parallel coordinates: 3,000 lines from all 6,000 runs, and the page says so.
    await page.goto(U(`/p/${BIG}/runs?panel=parcoords`));
    await page.locator("#parcoords-sample").waitFor();
    const said = await page.locator("#parcoords-sample").innerText();
    assert(said.includes("every 2nd matching run"), `the sample is stated: ${said}`);
    const head = await page.locator("#parcoords-sample").locator("..").innerText();
    assert(head.includes("3,000 of 6,000 runs"), `how many of how many: ${head}`);
    eq(await page.locator("#parcoords-sample").getAttribute("data-sampled"), "1", "marked as a sample");
    // The dashboard's progress chart: every record and about 2,000 more of the 6,000
    // runs, and it says so.
    await api.patch(`/api/v1/projects/${BIG}`, { primary_metric: { key: "acc", direction: "increase" } });
    await page.goto(U(`/p/${BIG}`));
    await page.locator("#progress-sample").waitFor();
    const drawn = Number(await page.locator("#progress-sample").getAttribute("data-drawn"));
    eq(await page.locator("#progress-sample").getAttribute("data-of"), "6000", "drawn from every run with a value");
    assert(drawn >= 2000 && drawn < 6000, `a sample of the runs is drawn: ${drawn}`);
    const note = await page.locator("#progress-sample").innerText();
    assert(note.includes(`${drawn.toLocaleString("en-US")} of 6,000 runs drawn`), `the chart says it is a sample: ${note}`);
  });

  await check("runs logged through MLflow: one value a run draws as bars, owner and times are the client's", async () => {
    const ml = (p, b) => api.post(`/api/2.0/mlflow/${p}`, b);
    const exp = "mlflow-logged";
    const { experiment_id } = await ml("experiments/create", { name: exp });
    const t0 = Date.UTC(2026, 0, 5, 9, 0, 0);
    const accs = [0.81, 0.86, 0.78];
    const ids = [];
    for (const [i, acc] of accs.entries()) {
      const { run } = await ml("runs/create", { experiment_id, start_time: t0 + i * 1000, run_name: `ml-${i}`, user_id: "unknown", tags: [{ key: "mlflow.user", value: "dana" }] });
      const id = run.info.run_id;
      ids.push(id);
      await ml("runs/log-metric", { run_id: id, key: "acc", value: acc, timestamp: t0 + 3_000_000, step: 0 });
      await ml("runs/update", { run_id: id, status: "FINISHED", end_time: t0 + i * 1000 + 3_600_000 });
    }
    const shorts = await Promise.all(ids.map(async (id) => (await api.get(`/api/v1/runs/${id}`)).short_id));
    await page.goto(U(`/p/${exp}/runs`));
    await waitRows(3);
    for (const s of shorts) await page.locator(`.vt-row[data-run="${s}"] input[type=checkbox]`).click();
    await page.getByRole("button", { name: "Charts" }).click();
    const bars = page.locator('.chart-box[data-metric="acc"] .mbars[data-bars="3"]');
    await bars.waitFor();
    const text = await bars.innerText();
    for (const [i, acc] of accs.entries()) assert(text.includes(`ml-${i}`) && text.includes(String(acc)), `bar for ml-${i} = ${acc}: ${text}`);
    const widths = Object.fromEntries(await bars.locator(".mbar-row").evaluateAll((rows) => rows.map((r) => [r.querySelector(".mbar-label").textContent, parseFloat(r.querySelector(".mbar").style.width)])));
    assert(widths["ml-1"] > widths["ml-0"] && widths["ml-0"] > widths["ml-2"], `bar lengths follow the values: ${JSON.stringify(widths)}`);
    await shot("mlflow-bars");
    await page.goto(U(`/r/${shorts[0]}`));
    const head = page.locator("header, .run-head").first();
    await page.getByText("took 1h 00m").first().waitFor();
    const owner = await page.locator("dd", { hasText: "dana" }).count();
    assert(owner >= 1, `the owner is the mlflow.user tag: ${await head.innerText()}`);
  });

  await check("no uncaught errors in the pages", async () => {
    eq(pageErrors, [], "uncaught page errors");
  });
} catch (e) {
  console.error("setup failed:", e);
  results.push({ name: "setup", ok: false, error: e });
} finally {
  await cleanup();
}

const failed = results.filter((r) => !r.ok);
console.log(`\n${results.length - failed.length} passed, ${failed.length} failed${failed.length ? ": " + failed.map((f) => f.name).join("; ") : ""}`);
console.log(`screenshots in ${path.relative(process.cwd(), OUT) || OUT}`);
process.exit(failed.length || results.length === 0 ? 1 : 0);
