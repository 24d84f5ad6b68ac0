import type { Socket } from 'node:net';

/**
 * Counts the socket's write and writev calls from now on: how many syscalls a burst of
 * statements or frames took (corked: one writev; uncorked: one write each).
 */
export function countSocketWrites(socket: Socket): { write: number; writev: number } {
  const writes = { write: 0, writev: 0 };
  const hooked = socket as unknown as Record<'_write' | '_writev', (...args: unknown[]) => unknown>;
  const write = hooked._write.bind(socket);
  const writev = hooked._writev.bind(socket);
  hooked._write = (...args) => (writes.write++, write(...args));
  hooked._writev = (...args) => (writes.writev++, writev(...args));
  return writes;
}
