// Fills a store through the REST API with a small, realistic project: a baseline and
// variations of it (augmentations, learning rates, depth), parents and children, a
// failed run, a run without a hypothesis, one that changes several things at once,
// artifacts (output log, an image, a CSV, the uncommitted diff, a data manifest),
// system metrics, and one run that is still running.

import { client, curves, DIFF, ENVIRONMENT, png, rng } from "./lib.mjs";

export const PROJECT = "vision";
/** Runs refused as duplicates while filling. */
export const REFUSED = 1;

export async function fill(apiUrl, { points = 200 } = {}) {
  const c = client(apiUrl);
  await c.post("/api/v1/projects", {
    name: PROJECT,
    description: "Surface defect classifier on synthetic images",
    require_hypothesis: false,
    primary_metric: { key: "val/acc", direction: "increase" },
  });

  const made = {};
  const make = async (name, o) => {
    const cfg = { lr: o.lr, optimizer: { name: o.opt ?? "adam", betas: [0.9, 0.999] }, model: { depth: o.depth, width: 128 }, aug: o.aug, batch_size: 64, epochs: 20 };
    const body = {
      project: PROJECT,
      name,
      hypothesis: o.hypothesis === undefined ? `${name}: ${o.aug} augmentation with lr ${o.lr} improves val/acc` : o.hypothesis,
      expected: o.hypothesis === null ? null : { metric: "val/acc", direction: "increase", size: 0.01 },
      owner: o.owner ?? "ana",
      tags: { aug: o.aug, ...(o.tags ?? {}) },
      config: cfg,
      config_sources: { lr: "flags", aug: "flags", optimizer: "file:conf/base.yaml", model: "file:conf/base.yaml", batch_size: "file:conf/base.yaml", epochs: "file:conf/base.yaml" },
      command: ["python", "train.py", "--lr", String(o.lr), "--aug", o.aug, "--depth", String(o.depth)],
      code: {
        versioned: true,
        commit: o.commit ?? "8b7e2104c1d9a6f3e5b2a7c8d9e0f1a2b3c4d5e6",
        branch: "main",
        remote: "git@example.com:team/defects.git",
        dirty: true,
        diff_artifact: "code/uncommitted.diff",
        diff_hash: "d1ff" + String(o.lr).replace(".", ""),
        modified: { "train.py": "a1b2c3" },
        untracked: {},
      },
      data: { datasets: [{ path: "data/", hash: o.dataHash ?? "5e1f0c2b9a8d7e6f", files: 3, bytes: 123456, manifest_artifact: "data/manifest.json" }] },
      environment: ENVIRONMENT(o.host ?? "gpu-1"),
      seeds: [o.seed ?? 0],
      parents: o.parents ?? [],
      compare: o.parents?.length ? true : undefined,
      on_duplicate: o.onDuplicate,
    };
    const run = await c.post("/api/v1/runs", body);
    const id = run.id;
    const cv = curves(points, { lr: o.lr, depth: o.depth, aug: o.aug, seed: o.seed ?? 0 });
    const t0 = Date.now() - points * 1000;
    const ts = cv.steps.map((s) => t0 + s * 1000);
    const n = o.running ? Math.floor(points / 4) : points;
    await c.post(`/api/v1/runs/${id}/metrics`, {
      series: [
        { key: "loss", steps: cv.steps.slice(0, n), values: cv.loss.slice(0, n), timestamps: ts.slice(0, n) },
        { key: "val/acc", steps: cv.steps.slice(0, n), values: cv.acc.slice(0, n), timestamps: ts.slice(0, n) },
        { key: "lr", steps: cv.steps.slice(0, n), values: cv.lrs.slice(0, n), timestamps: ts.slice(0, n) },
        { key: "system/cpu_percent", steps: cv.steps.slice(0, n).filter((s) => s % 10 === 0), values: cv.steps.slice(0, n).filter((s) => s % 10 === 0).map((s) => 60 + (s % 30)) },
        { key: "system/memory_bytes", steps: cv.steps.slice(0, n).filter((s) => s % 10 === 0), values: cv.steps.slice(0, n).filter((s) => s % 10 === 0).map((s) => 2e9 + s * 1e6) },
      ],
    });
    await c.put(`/api/v1/runs/${id}/artifacts/code/uncommitted.diff`, DIFF(o.lr));
    await c.put(
      `/api/v1/runs/${id}/artifacts/data/manifest.json`,
      JSON.stringify({
        hash: o.dataHash ?? "5e1f0c2b9a8d7e6f",
        files: 3,
        bytes: 123456,
        manifest: [
          { path: "train/images.npy", size: 100000, blake3: "a".repeat(64) },
          { path: "train/labels.csv", size: 20000, blake3: "b".repeat(64) },
          { path: "val/images.npy", size: 3456, blake3: "c".repeat(64) },
        ],
      }),
    );
    if (!o.running) await c.put(`/api/v1/runs/${id}/artifacts/logs/output.log`, `epoch 1/20 loss 2.1032\nepoch 2/20 loss 1.4410\n${name} finished with val/acc ${cv.final.toFixed(4)}\n`);
    await c.put(`/api/v1/runs/${id}/artifacts/results/per_class.csv`, `class,precision,recall\nok,0.97,0.98\nscratch,0.91,0.88\n"spot, small",0.85,0.83\n`);
    await c.put(`/api/v1/runs/${id}/artifacts/plots/confusion.png`, png(48, 48, (x, y) => (x === y || Math.abs(x - y) < 3 ? [30, 120, 220] : [240, 240, 245])));
    if (!o.running) await c.post(`/api/v1/runs/${id}/finish`, { status: o.status ?? "finished", exit_code: o.status === "failed" ? 1 : 0 });
    if (o.tryAgain) {
      // The same run again, now that it finished: the server refuses it as a duplicate.
      const res = await c.raw("/api/v1/runs", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
      const text = await res.text();
      if (res.status !== 409 || !text.includes("duplicate_run")) throw new Error(`a duplicate of ${name} was not refused: ${res.status} ${text}`);
    }
    made[name] = { id, short: run.short_id, final: cv.final, lastAcc: cv.acc[n - 1], logged: n, status: o.running ? "running" : o.status ?? "finished", lr: o.lr, aug: o.aug, depth: o.depth, owner: o.owner ?? "ana", curves: cv, t0 };
    return run;
  };

  const base = await make("baseline", { lr: 0.01, aug: "none", depth: 4 });
  await make("baseline-s1", { lr: 0.01, aug: "none", depth: 4, seed: 1, owner: "bo" });
  await make("aug-flip", { lr: 0.01, aug: "flip", depth: 4, parents: [base.id], onDuplicate: "refuse", tryAgain: true });
  await make("aug-mixup", { lr: 0.01, aug: "mixup", depth: 4, parents: [base.id], owner: "chen" });
  await make("lr-0.001", { lr: 0.001, aug: "none", depth: 4, parents: [base.id] });
  await make("lr-0.1", { lr: 0.1, aug: "none", depth: 4, parents: [base.id], owner: "bo" });
  const deep = await make("deep-8", { lr: 0.01, aug: "none", depth: 8, parents: [base.id], host: "gpu-2" });
  // A long per-batch series, which charts must read downsampled and re-read when zoomed.
  const LONG = 20_000;
  const steps = Array.from({ length: LONG }, (_, i) => i);
  await c.post(`/api/v1/runs/${deep.id}/metrics`, {
    series: [{ key: "train/loss", steps, values: steps.map((i) => Number((2 * Math.exp(-i / 4000) + 0.1 + 0.05 * Math.sin(i / 7)).toFixed(5))) }],
  });
  made["deep-8"].longPoints = LONG;
  await make("everything-at-once", { lr: 0.05, aug: "rotate", depth: 8, parents: [base.id], owner: "chen", dataHash: "77aa00bb11cc22dd" });
  await make("diverged", { lr: 1.0, aug: "none", depth: 4, status: "failed", owner: "bo" });
  await make("quick-try", { lr: 0.02, aug: "flip", depth: 2, hypothesis: null, owner: "chen" });
  await make("live", { lr: 0.01, aug: "mixup", depth: 6, running: true, owner: "ana" });
  await make("live-2", { lr: 0.02, aug: "flip", depth: 6, running: true, owner: "bo" });
  return made;
}

// A second project for the statistics pages: a sweep whose score depends strongly on x1
// (one decade of x1 adds 0.1), weakly on x2 (+0.012) and not at all on x3, with three
// seeds per configuration (replicate groups); an ablation study between two of its
// configurations and a 2×2 factorial design over x2 and x3, kept as project tags the way
// `cairn ablate` and `cairn design factorial` keep them.

export const SWEEP = "sweep";

/** The score of a sweep configuration without noise. */
export const sweepScore = (x1, x2) => 0.6 + 0.1 * Math.log10(x1 / 0.001) + 0.012 * x2;

export async function fillSweep(apiUrl) {
  const c = client(apiUrl);
  await c.post("/api/v1/projects", { name: SWEEP, description: "Which knob matters? A seeded sweep", require_hypothesis: false, primary_metric: { key: "score", direction: "increase" } });
  // Deterministic noise (sd about 0.004).
  const unif = rng(2026);
  const noise = () => (unif() + unif() + unif() + unif() - 2) * 0.007;
  const groups = {};
  for (const x1 of [0.001, 0.01, 0.1])
    for (const x2 of [0, 1])
      for (const x3 of ["a", "b"]) {
        const key = `${x1}/${x2}/${x3}`;
        groups[key] = [];
        for (const seed of [0, 1, 2]) {
          const run = await c.post("/api/v1/runs", {
            project: SWEEP,
            name: `x1=${x1} x2=${x2} x3=${x3} s${seed}`,
            hypothesis: x1 === 0.1 && x2 === 1 ? "a larger x1 with x2 on raises the score" : null,
            owner: ["ana", "bo", "chen"][seed],
            config: { x1, x2, x3 },
            command: ["python", "sweep.py", "--x1", String(x1), "--x2", String(x2), "--x3", x3, "--seed", String(seed)],
            seeds: [seed],
            group_id: `replicates-sweep-${x1}-${x2}-${x3}`,
          });
          const v = Number((sweepScore(x1, x2) + noise()).toFixed(5));
          await c.post(`/api/v1/runs/${run.id}/metrics`, { series: [{ key: "score", steps: [0, 1], values: [Number((v * 0.6).toFixed(5)), v] }] });
          await c.post(`/api/v1/runs/${run.id}/finish`, { status: "finished", exit_code: 0 });
          groups[key].push({ id: run.id, short: run.short_id, value: v });
        }
      }
  const ids = (k) => groups[k].map((r) => r.id);
  const now = Date.now();
  const ablation = {
    name: "x1-x2",
    kind: "ablation",
    created_at: now,
    base: groups["0.001/0/a"][0].short,
    candidate: groups["0.1/1/a"][0].short,
    changes: ["x1: 0.001 → 0.1", "x2: 0 → 1"],
    factors: [],
    fraction: null,
    seeds: [0, 1, 2],
    arms: [
      ["base", null, "0.001/0/a"],
      ["candidate", null, "0.1/1/a"],
      ["base + x1", "x1: 0.001 → 0.1", "0.1/0/a"],
      ["base + x2", "x2: 0 → 1", "0.001/1/a"],
      ["candidate − x1", "x1: 0.001 → 0.1", "0.001/1/a"],
      ["candidate − x2", "x2: 0 → 1", "0.1/0/a"],
    ].map(([role, change, k]) => ({ role, change, levels: {}, command: ["python", "sweep.py"], runs: ids(k) })),
    notes: [],
  };
  const factorial = {
    name: "x2-by-x3",
    kind: "factorial",
    created_at: now + 1,
    base: null,
    candidate: null,
    changes: [],
    factors: [
      { name: "x2", levels: ["0", "1"] },
      { name: "x3", levels: ["a", "b"] },
    ],
    fraction: null,
    seeds: [0, 1, 2],
    arms: ["0/a", "0/b", "1/a", "1/b"].map((l) => {
      const [x2, x3] = l.split("/");
      return { role: `x2=${x2} x3=${x3}`, change: null, levels: { x2, x3 }, command: ["python", "sweep.py", "--x2", x2, "--x3", x3], runs: ids(`0.01/${l}`) };
    }),
    notes: [],
  };
  await c.patch(`/api/v1/projects/${SWEEP}`, { tags: { "cairn.study.x1-x2": JSON.stringify(ablation), "cairn.study.x2-by-x3": JSON.stringify(factorial) } });
  return groups;
}
