import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import type { Registry } from 'prom-client';
import type { Logger } from '../logger';
import { close, listen } from './listen';

/** A service-specific endpoint (e.g. payment-worker's webhook gateway). */
export interface HttpRoute {
  method: 'GET' | 'POST';
  path: string;
  handle(req: { body: Buffer; headers: Record<string, string | string[] | undefined>; query: URLSearchParams }): Promise<{ status: number; body: string; type?: string }>;
}

export interface ReadinessCheck {
  name: string;
  check(): Promise<boolean>;
  /**
   * False for what the worker does its job without (Redis: a cache and a schedule, never the
   * truth): failing, it makes the worker `degraded`, still ready.
   */
  required?: boolean;
}

/**
 * /livez: the process runs its event loop (a wedged or fatally failed worker says 503).
 * /readyz: 200 when every required check passes (broker, Postgres, partitions owned), `status`
 *   `ready`, or `degraded` when an optional one fails (Redis); 503 `not ready` otherwise. The
 *   body names each check.
 * /metrics: Prometheus text format.
 */
export class HealthServer {
  private server: Server | undefined;

  constructor(
    private readonly port: number,
    private readonly registry: Registry,
    private readonly live: () => boolean,
    private readonly checks: ReadinessCheck[],
    private readonly routes: HttpRoute[] = [],
    private readonly maxBodyBytes = 1024 * 1024,
    private readonly log?: Logger,
  ) {}

  get boundPort(): number | undefined {
    return (this.server?.address() as AddressInfo | null)?.port;
  }

  async start(): Promise<void> {
    if (this.server) return;
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size > this.maxBodyBytes) {
          // Refuse before buffering an unbounded body.
          res.writeHead(413, { 'content-type': 'text/plain', connection: 'close' });
          res.end(`body over ${this.maxBodyBytes} bytes\n`);
          req.destroy();
          return;
        }
        chunks.push(c);
      });
      req.on('end', () => {
        if (size <= this.maxBodyBytes) void respond(Buffer.concat(chunks));
      });
      const respond = (body: Buffer) => this.route(req.method ?? 'GET', req.url ?? '/', body, req.headers).then(
        ({ status, body, type }) => {
          res.writeHead(status, { 'content-type': type });
          res.end(body);
        },
        (err: unknown) => {
          // The error stays in the log, under an id the answer gives: its text may hold
          // anything (a connection string, a query's parameters) and the caller may be anyone.
          const errorId = randomUUID();
          this.log?.error({ err: (err as Error).message, errorId, path: (req.url ?? '/').split('?')[0] }, 'http request failed');
          res.writeHead(500, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: 'internal error', errorId }) + '\n');
        },
      );
    });
    await listen(server, this.port);
    this.server = server;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) await close(server);
  }

  private async route(method: string, url: string, body: Buffer, headers: Record<string, string | string[] | undefined>): Promise<{ status: number; body: string; type: string }> {
    const [path = '/', query = ''] = url.split('?');
    const custom = this.routes.find((r) => r.method === method && r.path === path);
    if (custom) {
      const res = await custom.handle({ body, headers, query: new URLSearchParams(query) });
      return { status: res.status, body: res.body, type: res.type ?? 'application/json' };
    }
    if (path === '/livez') {
      const ok = this.live();
      return { status: ok ? 200 : 503, body: ok ? 'ok\n' : 'not live\n', type: 'text/plain' };
    }
    if (path === '/readyz') {
      const results = await Promise.all(
        this.checks.map(async (c) => [c.name, await withTimeout(c.check(), 2000).catch(() => false)] as const),
      );
      const failed = this.checks.filter((_, i) => !results[i]![1]);
      const status = failed.some((c) => c.required !== false) ? 'not ready' : failed.length > 0 ? 'degraded' : 'ready';
      return { status: status === 'not ready' ? 503 : 200, body: JSON.stringify({ status, ...Object.fromEntries(results) }) + '\n', type: 'application/json' };
    }
    if (path === '/metrics') {
      return { status: 200, body: await this.registry.metrics(), type: this.registry.contentType };
    }
    return { status: 404, body: 'not found\n', type: 'text/plain' };
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('timeout')), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}
