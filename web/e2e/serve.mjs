// For trying the UI by hand: a fresh server filled with the e2e project, the UI served
// (by cairn itself or through the proxy in lib.mjs). Prints the URL; Ctrl-C stops it.
//   node e2e/serve.mjs [--empty]

import { fill, fillSweep } from "./fill.mjs";
import { startServer, uiServer } from "./lib.mjs";

const srv = await startServer({ quiet: false });
if (!process.argv.includes("--empty")) {
  await fill(srv.url);
  await fillSweep(srv.url);
}
console.log(`CAIRN_HOME ${srv.home}`);
const ui = await uiServer(srv.url);
console.log(`API ${srv.url}\nUI  ${ui.url}${ui.proxied ? " (dist/ served here, API proxied)" : ""}`);
const stop = async () => {
  await ui.stop();
  await srv.stop();
  process.exit(0);
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
