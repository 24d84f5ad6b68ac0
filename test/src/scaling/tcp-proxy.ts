import { createConnection, createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * A TCP proxy a test can cut: point one worker's REDIS_URL (or any URL) at it and that worker
 * alone loses the service, the way a network partition would, while everything else keeps
 * talking to the real one. cut() drops every connection and refuses new ones; restore() lets
 * them through again. holdReplies() keeps what the server sends in the proxy (the client's
 * requests still go through: a broker's confirms held back while it has the message) until
 * releaseReplies().
 */
export class TcpProxy {
  private readonly sockets = new Set<Socket>();
  /** The server side of each connection. */
  private readonly upstreams = new Set<Socket>();
  private open = true;
  private holding = false;

  private readonly server: Server;

  private constructor(targetPort: number, targetHost: string) {
    this.server = createServer((client) => {
      if (!this.open) {
        client.destroy();
        return;
      }
      const upstream = createConnection({ port: targetPort, host: targetHost });
      this.upstreams.add(upstream);
      upstream.on('close', () => this.upstreams.delete(upstream));
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
      if (this.holding) upstream.pause();
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
  }

  static async start(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
    const proxy = new TcpProxy(targetPort, targetHost);
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** `scheme://127.0.0.1:<proxy port>` with the rest of `url` kept. */
  url(url: string): string {
    const u = new URL(url);
    u.hostname = '127.0.0.1';
    u.port = String(this.port);
    return u.toString();
  }

  cut(): void {
    this.open = false;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  restore(): void {
    this.open = true;
  }

  holdReplies(): void {
    this.holding = true;
    for (const u of this.upstreams) u.pause();
  }

  releaseReplies(): void {
    this.holding = false;
    for (const u of this.upstreams) u.resume();
  }

  async stop(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
