import type { Server } from 'node:http';

/** Listens on every interface; rejects when the port cannot be had (in use, not allowed). */
export function listen(server: Server, port: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '0.0.0.0', () => resolve());
  });
}

/** Stops taking connections, drops the idle keep-alive ones, and resolves once the rest ended. */
export function close(server: Server): Promise<void> {
  server.closeIdleConnections();
  return new Promise<void>((resolve) => server.close(() => resolve()));
}
