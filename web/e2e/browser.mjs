// Chromium through playwright-core: Debian's /usr/bin/chromium (or CHROMIUM), headless,
// on a fresh profile that is removed afterwards.

import { mkdtempSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";

export const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"];

export async function launch({ width = 1280, height = 800, colorScheme = "light" } = {}) {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM)`);
  const profile = mkdtempSync(path.join(tmpdir(), "cairn-chromium-"));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: { width, height },
    colorScheme,
    acceptDownloads: true,
  });
  const close = async () => {
    await ctx.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
  };
  return { ctx, close };
}
