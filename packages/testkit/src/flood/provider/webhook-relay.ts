import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * The provider posts webhooks to one URL, but the flood runs several payment-worker
 * processes and kills them: this relay forwards each webhook, byte for byte with its
 * x-signature, to a live instance's gateway (trying the next one when an instance is gone).
 * With none alive it answers 503 and the provider retries, as it would against a real
 * deployment behind a load balancer.
 */
export class WebhookRelay {
  private server: Server | undefined;
  private next = 0;
  forwarded = 0;
  refused = 0;

  constructor(private readonly targets: () => string[]) {}

  get url(): string {
    const addr = this.server?.address() as AddressInfo | null | undefined;
    if (!addr) throw new Error('webhook relay not started');
    return `http://127.0.0.1:${addr.port}/webhooks/provider`;
  }

  async start(): Promise<void> {
    const server = createServer((req, res) => {
      void this.forward(req).then(
        (status) => {
          res.writeHead(status, { 'content-type': 'text/plain' });
          res.end();
        },
        () => {
          res.writeHead(502);
          res.end();
        },
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.server = server;
  }

  private async forward(req: IncomingMessage): Promise<number> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const signature = req.headers['x-signature'];
    const targets = this.targets();
    for (let k = 0; k < targets.length; k++) {
      const target = targets[(this.next + k) % targets.length]!;
      try {
        const res = await fetch(target, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...(typeof signature === 'string' ? { 'x-signature': signature } : {}) },
          body,
          signal: AbortSignal.timeout(5_000),
        });
        await res.arrayBuffer();
        if (res.status < 500) {
          this.next = (this.next + k + 1) % Math.max(1, targets.length);
          this.forwarded++;
          return res.status;
        }
      } catch {
        // That instance is gone or stopped; try the next.
      }
    }
    this.refused++;
    return 503;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
