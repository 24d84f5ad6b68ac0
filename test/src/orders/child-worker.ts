import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { workerNodeArgs } from '@stockflow/shared';
import { TEST_LOG_DIR } from '../support';

const ROOT = resolve(__dirname, '../../..');

export type ServiceName = 'inventory-worker' | 'order-worker' | 'payment-worker';

/**
 * A worker as a real process (`node services/<name>/dist/main.js`), so a test can SIGKILL it.
 * Needs `npx tsc -b` first (npm test runs it). Its log goes to the test log directory; the
 * "ready" line tells us it is consuming and on which HTTP port.
 */
export class ChildWorker {
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readyLine: Record<string, unknown> | undefined;
  private readonly waiting: (() => void)[] = [];
  /** The last lines the process wrote, so a start that hangs says where it hangs. */
  private readonly tail: string[] = [];

  private constructor(
    readonly name: ServiceName,
    private readonly child: ChildProcess,
  ) {
    this.exited = new Promise((done) => child.once('exit', (code, signal) => done({ code, signal })));
  }

  static start(name: ServiceName, env: Record<string, string>, label: string): ChildWorker {
    const script = join(ROOT, 'services', name, 'dist', 'main.js');
    if (!existsSync(script)) throw new Error(`${script} missing: run \`npx tsc -b\` before the tests`);
    const child = spawn(process.execPath, [...workerNodeArgs(), script], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const worker = new ChildWorker(name, child);
    const log = createWriteStream(join(TEST_LOG_DIR, `${label}.${name}.log`), { flags: 'a' });
    let pending = '';
    child.stdout.on('data', (chunk: Buffer) => {
      log.write(chunk);
      pending += chunk.toString('utf8');
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) worker.onLine(line);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      log.write(chunk);
      worker.remember(chunk.toString('utf8'));
    });
    void worker.exited.then(() => log.end());
    return worker;
  }

  private remember(text: string): void {
    for (const line of text.split('\n')) if (line.trim()) this.tail.push(line.slice(0, 400));
    this.tail.splice(0, Math.max(0, this.tail.length - 8));
  }

  private onLine(line: string): void {
    this.remember(line);
    if (this.readyLine || !line.includes(`${this.name} ready`)) return;
    try {
      this.readyLine = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    this.waiting.splice(0).forEach((w) => w());
  }

  /** Resolves when the worker logged "ready"; rejects if it exits first or takes too long. */
  async ready(timeoutMs = 60_000): Promise<this> {
    if (this.readyLine) return this;
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`${this.name} (pid ${this.child.pid}) not ready after ${timeoutMs} ms; its last lines:\n${this.tail.join('\n') || '(none)'}`)), timeoutMs);
      this.waiting.push(() => {
        clearTimeout(t);
        resolve();
      });
      void this.exited.then(({ code, signal }) => {
        clearTimeout(t);
        reject(new Error(`${this.name} exited before ready (code ${code}, signal ${signal})`));
      });
    });
    return this;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** One Prometheus sample of this worker (HTTP_PORT must not be -1). */
  async metric(name: string, labels: Record<string, string> = {}): Promise<number> {
    const port = this.readyLine?.httpPort;
    if (typeof port !== 'number') throw new Error(`${this.name} has no HTTP port`);
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
    const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && wanted.every((w) => l.includes(w)));
    return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
  }

  /** SIGTERM (graceful), SIGKILL after the grace period; safe to call on an exited process. */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(t);
  }
}
