// Shared by the end-to-end suite, the performance script and manual trials: start a
// real `cairn server` on a temporary home and a free port, talk to its REST API, serve
// the built UI (through the server itself when it serves web/dist, else through a small
// static server that proxies /api to it), and fill a store with realistic runs.

import { spawn } from "node:child_process";
import { createReadStream, existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import zlib from "node:zlib";

export const WEB = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const DIST = path.join(WEB, "dist");

export function cairnBin() {
  const bin = process.env.CAIRN_BIN ? path.resolve(process.env.CAIRN_BIN) : path.resolve(WEB, "../target/debug/cairn");
  if (!existsSync(bin)) throw new Error(`no cairn binary at ${bin}; build it (cargo build -p cairn) or set CAIRN_BIN`);
  return bin;
}

/** Starts `cairn server --port 0` on `home` (a new temporary one by default). */
export async function startServer({ home, bin = cairnBin(), quiet = true, args = [] } = {}) {
  const ownHome = !home;
  home ??= mkdtempSync(path.join(tmpdir(), "cairn-e2e-"));
  const proc = spawn(bin, ["server", "--host", "127.0.0.1", "--port", "0", ...args], {
    env: { ...process.env, CAIRN_HOME: home, RUST_LOG: process.env.RUST_LOG ?? "warn" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`cairn server did not start in 30 s:\n${log}`)), 30_000);
    const onData = (d) => {
      log += d.toString();
      const m = /listening on (http:\/\/[^\s]+)/.exec(log);
      if (m) {
        clearTimeout(timer);
        resolve(m[1].replace(/\/$/, ""));
      }
    };
    proc.stdout.on("data", onData);
    proc.stderr.on("data", onData);
    proc.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`cairn server exited (${code}):\n${log}`));
    });
  });
  proc.stdout.on("data", (d) => !quiet && process.stdout.write(d));
  proc.stderr.on("data", (d) => !quiet && process.stderr.write(d));
  const stop = async () => {
    if (proc.exitCode === null) {
      proc.kill("SIGTERM");
      await new Promise((r) => {
        const t = setTimeout(() => {
          proc.kill("SIGKILL");
          r();
        }, 5000);
        proc.on("exit", () => {
          clearTimeout(t);
          r();
        });
      });
    }
    if (ownHome) rmSync(home, { recursive: true, force: true });
  };
  return { url, home, proc, stop, log: () => log };
}

/** A tiny REST client. */
export function client(base) {
  const call = async (method, p, body, headers = {}) => {
    const init = { method, headers: { ...headers } };
    if (body !== undefined) {
      if (typeof body === "string" || body instanceof Uint8Array || Buffer.isBuffer(body)) init.body = body;
      else {
        init.body = JSON.stringify(body);
        init.headers["content-type"] = "application/json";
      }
    }
    const res = await fetch(base + p, init);
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${p} → ${res.status}: ${text.slice(0, 500)}`);
    try {
      return text ? JSON.parse(text) : null;
    } catch {
      return text;
    }
  };
  return {
    base,
    get: (p) => call("GET", p),
    post: (p, b) => call("POST", p, b),
    patch: (p, b) => call("PATCH", p, b),
    put: (p, b) => call("PUT", p, b, { "content-type": "application/octet-stream" }),
    raw: (p, init) => fetch(base + p, init),
  };
}

const MIME = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml", ".png": "image/png", ".json": "application/json" };

/**
 * The URL the UI is reached at. `cairn server` serves web/dist itself once it has that
 * feature; until then a small server here serves dist/ and proxies the API to it.
 */
export async function uiServer(apiUrl) {
  const probe = await fetch(apiUrl + "/", { headers: { accept: "text/html" } }).then(
    async (r) => (r.ok ? await r.text() : ""),
    () => "",
  );
  if (probe.includes('id="app"')) return { url: apiUrl, stop: async () => {}, proxied: false };
  if (!existsSync(path.join(DIST, "index.html"))) throw new Error("web/dist is missing: run `npm run build` first");
  const target = new URL(apiUrl);
  const server = http.createServer((req, res) => {
    const u = new URL(req.url, "http://x");
    if (u.pathname.startsWith("/api/") || u.pathname === "/healthz") {
      const up = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode, r.headers);
        r.pipe(res);
      });
      up.on("error", (e) => {
        res.writeHead(502);
        res.end(String(e));
      });
      req.pipe(up);
      return;
    }
    let file = path.join(DIST, decodeURIComponent(u.pathname));
    if (!file.startsWith(DIST) || !existsSync(file) || statSync(file).isDirectory()) file = path.join(DIST, "index.html");
    res.writeHead(200, { "content-type": MIME[path.extname(file)] ?? "application/octet-stream", "cache-control": "no-store" });
    createReadStream(file).pipe(res);
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${server.address().port}`;
  return { url, stop: () => new Promise((r) => server.close(() => r())), proxied: true };
}

// ---------------------------------------------------------------------------------
// Realistic content

/** A PNG (RGB) of w×h from a pixel function, encoded here (no dependencies). */
export function png(w, h, px) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf) => {
    let c = 0xffffffff;
    for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type), data]);
    const c = Buffer.alloc(4);
    c.writeUInt32BE(crc(td));
    return Buffer.concat([len, td, c]);
  };
  const raw = Buffer.alloc((w * 3 + 1) * h);
  for (let y = 0; y < h; y++) {
    raw[y * (w * 3 + 1)] = 0;
    for (let x = 0; x < w; x++) {
      const [r, g, b] = px(x, y);
      const o = y * (w * 3 + 1) + 1 + x * 3;
      raw[o] = r;
      raw[o + 1] = g;
      raw[o + 2] = b;
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk("IHDR", ihdr), chunk("IDAT", zlib.deflateSync(raw)), chunk("IEND", Buffer.alloc(0))]);
}

/** A deterministic pseudo-random generator (mulberry32). */
export function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const DIFF = (lr) => `diff --git a/train.py b/train.py
index 3f2a9c1..8b7e210 100644
--- a/train.py
+++ b/train.py
@@ -12,7 +12,8 @@ def build_model(depth, width):
     layers = []
     for i in range(depth):
         layers.append(Linear(width, width))
-    return Sequential(*layers)
+    # residual blocks help the deeper variants
+    return Residual(Sequential(*layers))
 
 
 def main():
@@ -40,3 +41,3 @@ def main():
     opt = Adam(model.parameters(), lr=args.lr)
-    sched = StepLR(opt, step_size=30)
+    sched = CosineAnnealingLR(opt, T_max=${Math.round(1 / lr)})
     return train(model, opt, sched)
`;

export const ENVIRONMENT = (host) => ({
  os: { family: "linux", name: "Debian GNU/Linux 12 (bookworm)", kernel: "6.1.0-18-amd64", arch: "x86_64" },
  host: { hostname: host, user: "ana" },
  container: { runtime: null, id: null, image: null, image_id: null },
  cpu: { model: "AMD EPYC 7763 64-Core Processor", cores: 32 },
  memory_bytes: 270_000_000_000,
  gpus: [{ index: 0, name: "NVIDIA A100-SXM4-80GB", uuid: "GPU-1b2c", memory_bytes: 85_899_345_920, driver: "550.54.15", cuda: "12.4" }],
  python: { version: "3.11.9", executable: "/opt/venv/bin/python", packages: ["numpy==1.26.4", "scikit-learn==1.5.0", host === "gpu-2" ? "torch==2.3.1" : "torch==2.3.0", "tqdm==4.66.4"] },
  env: { CUDA_VISIBLE_DEVICES: "0", OMP_NUM_THREADS: "8" },
});

/** A training curve: loss falls, accuracy rises to a plateau that depends on the config. */
export function curves(n, { lr, depth, aug, seed }) {
  const r = rng(seed * 7919 + Math.round(lr * 1e6) + depth);
  const gain = { none: 0, flip: 0.012, rotate: 0.008, mixup: 0.02 }[aug] ?? 0;
  const plateau = Math.min(0.985, 0.86 + gain + 0.01 * Math.log2(depth) - 4 * Math.abs(Math.log10(lr) + 2) * 0.01);
  const steps = [];
  const loss = [];
  const acc = [];
  const lrs = [];
  for (let i = 0; i < n; i++) {
    const p = 1 - Math.exp(-i / (n / 5));
    steps.push(i);
    loss.push(Number((2.3 * Math.exp(-i / (n / 4)) + 0.08 + (r() - 0.5) * 0.06).toFixed(5)));
    acc.push(Number((0.33 + (plateau - 0.33) * p + (r() - 0.5) * 0.02).toFixed(5)));
    lrs.push(Number((lr * 0.5 * (1 + Math.cos((Math.PI * i) / n))).toPrecision(6)));
  }
  return { steps, loss, acc, lrs, final: acc[n - 1] };
}
