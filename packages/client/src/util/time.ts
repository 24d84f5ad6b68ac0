export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      signal?.removeEventListener('abort', done);
      clearTimeout(t);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Waits for `work` to settle, but never longer than `ms`; true when it settled in time. */
export async function settledWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const settled = await Promise.race([
    work.then(
      () => true,
      () => true,
    ),
    new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
      timer.unref();
    }),
  ]);
  clearTimeout(timer);
  return settled;
}

/**
 * Awaits a close (channel, connection) but never longer than `ms`: amqplib's close() on a
 * channel whose socket is already gone may wait forever for a CloseOk that cannot come.
 */
export async function closeWithin(closer: { close(): Promise<unknown> } | undefined, ms = 2000): Promise<void> {
  if (closer) await settledWithin(closer.close(), ms);
}
