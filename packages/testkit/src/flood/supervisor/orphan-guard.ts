/**
 * Preloaded into every worker the flood starts (`node --require …/orphan-guard.js main.js`):
 * if the flood process dies without cleaning up (SIGKILL, a crash), its workers notice they
 * were re-parented and exit instead of consuming a deleted namespace forever. Test-side only:
 * the services themselves are not changed.
 */
const parent = process.ppid;
const timer = setInterval(() => {
  if (process.ppid !== parent) process.kill(process.pid, 'SIGKILL');
}, 1000);
timer.unref();
export {};
