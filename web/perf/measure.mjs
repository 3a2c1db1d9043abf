// Injected into every page the performance scripts open (`ctx.addInitScript(MEASURE)`):
//   - `window.__measure(action, done)`: runs `action`, then resolves with the time until
//     `done()` holds and the frame after it was painted (the page's own clock);
//   - `window.__firstRows`: when the first run rows of the table were painted.
export const MEASURE = `
window.__measure = (action, done, timeout = 20000) => new Promise((resolve, reject) => {
  const t0 = performance.now();
  action();
  const tick = () => {
    const t = performance.now() - t0;
    if (t > timeout) return reject(new Error("timed out"));
    if (done()) requestAnimationFrame(() => requestAnimationFrame(() => resolve(performance.now() - t0)));
    else requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
});
// First rows painted: a MutationObserver notes when the first run row enters the DOM,
// then waits for the frame that shows it.
new MutationObserver((_, obs) => {
  if (document.querySelector(".vt-row[data-run]")) {
    obs.disconnect();
    requestAnimationFrame(() => requestAnimationFrame(() => { window.__firstRows = performance.now(); }));
  }
}).observe(document, { childList: true, subtree: true });
`;
