import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { closeHttpServer as close, listenHttp as listen, type Logger } from '@stockflow/shared';
import { problem, type Answer } from './problem';

export interface Request {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

/** A route: method, a path pattern with named groups, and its handler. */
export interface Route {
  name: string;
  method: 'GET' | 'POST';
  pattern: RegExp;
  handle(req: Request, params: Record<string, string>): Promise<Answer>;
}

/**
 * A small HTTP server: routes by pattern, answers JSON (problem details for errors), refuses a
 * body over `maxBodyBytes` before buffering it, and keeps the text of an unexpected error in the
 * log under an id the answer gives (it may hold a connection string; the caller may be anyone).
 */
export class HttpServer {
  private server: Server | undefined;

  constructor(
    private readonly port: number,
    private readonly routes: Route[],
    private readonly maxBodyBytes: number,
    private readonly log: Logger,
    private readonly observe: (route: string, status: number, seconds: number) => void,
  ) {}

  get boundPort(): number | undefined {
    return (this.server?.address() as AddressInfo | null)?.port;
  }

  async start(): Promise<void> {
    const server = createServer((req, res) => {
      const started = performance.now();
      const chunks: Buffer[] = [];
      let size = 0;
      let refused = false;
      const send = (route: string, a: Answer) => {
        const text = typeof a.body === 'string' ? a.body : JSON.stringify(a.body) + '\n';
        res.writeHead(a.status, { 'content-type': 'application/json', ...a.headers });
        res.end(text);
        this.observe(route, a.status, (performance.now() - started) / 1000);
      };
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size > this.maxBodyBytes && !refused) {
          refused = true;
          send('too_large', problem(413, 'too_large', 'Body too large', `over ${this.maxBodyBytes} bytes`, {}, { connection: 'close' }));
          // Once the answer is out: destroyed at once, the caller could see a reset instead.
          res.once('finish', () => req.destroy());
          return;
        }
        if (!refused) chunks.push(c);
      });
      req.on('end', () => {
        if (refused) return;
        const request: Request = { method: req.method ?? 'GET', path: (req.url ?? '/').split('?')[0]!, headers: req.headers, body: Buffer.concat(chunks) };
        const match = this.match(request);
        if (!match) {
          send('unknown', problem(404, 'not_found', `No route ${request.method} ${request.path}`));
          return;
        }
        match.route.handle(request, match.params).then(
          (a) => send(match.route.name, a),
          (err: unknown) => {
            const errorId = randomUUID();
            this.log.error({ err: (err as Error).message, errorId, path: request.path }, 'http request failed');
            send(match.route.name, problem(500, 'internal', 'Internal error', `error id ${errorId}`, { errorId }));
          },
        );
      });
    });
    await listen(server, this.port);
    this.server = server;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) await close(server);
  }

  private match(req: Request): { route: Route; params: Record<string, string> } | undefined {
    for (const route of this.routes) {
      if (route.method !== req.method) continue;
      const m = route.pattern.exec(req.path);
      if (!m) continue;
      try {
        return { route, params: Object.fromEntries(Object.entries(m.groups ?? {}).map(([k, v]) => [k, decodeURIComponent(v)])) };
      } catch {
        return undefined; // a malformed %-escape: no such resource
      }
    }
    return undefined;
  }
}
