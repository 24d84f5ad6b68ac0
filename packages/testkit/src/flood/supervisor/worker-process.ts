import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { workerNodeArgs, type WorkerKind } from '@stockflow/shared';

/** Repository root, from packages/testkit/src/flood/supervisor (ts-jest) or its dist/ twin (node). */
export const ROOT = resolve(__dirname, '../../../../..');

export const SERVICE_OF: Record<WorkerKind, string> = { inventory: 'inventory-worker', orders: 'order-worker', payments: 'payment-worker' };

export type ProcessState = 'starting' | 'running' | 'paused' | 'exited';

export interface WorkerProcessOptions {
  kind: WorkerKind;
  index: number;
  instanceId: string;
  env: Record<string, string>;
  logDir: string;
}

/**
 * One worker as a real OS process (`node services/<kind>/dist/main.js`), one incarnation at a
 * time: the fleet restarts it after a kill. Its JSON log goes to <logDir>/<instance>.<n>.log;
 * the "<service> ready" line tells us it consumes and which HTTP port it bound.
 */
export class WorkerProcess {
  incarnation = 0;
  state: ProcessState = 'exited';
  httpPort: number | undefined;
  /** Set for one incarnation: the process SIGKILLs itself right after committing this type. */
  armed: string | undefined;
  private child: ChildProcess | undefined;
  private beforePause: ProcessState = 'running';
  private readyWaiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> = Promise.resolve({ code: 0, signal: null });
  onExit: ((p: WorkerProcess, how: { code: number | null; signal: NodeJS.Signals | null }) => void) | undefined;

  constructor(readonly opts: WorkerProcessOptions) {}

  get kind(): WorkerKind {
    return this.opts.kind;
  }

  get instanceId(): string {
    return this.opts.instanceId;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get service(): string {
    return SERVICE_OF[this.opts.kind];
  }

  /** Starts the next incarnation; `extraEnv` applies to it only (e.g. an exit-after-commit crash). */
  start(extraEnv: Record<string, string> = {}): void {
    if (this.state !== 'exited') throw new Error(`${this.instanceId} is ${this.state}`);
    const script = join(ROOT, 'services', this.service, 'dist', 'main.js');
    const guard = join(ROOT, 'packages', 'testkit', 'dist', 'flood', 'supervisor', 'orphan-guard.js');
    for (const f of [script, guard]) if (!existsSync(f)) throw new Error(`${f} missing: run \`npx tsc -b\` first`);
    this.incarnation++;
    this.armed = extraEnv.STOCKFLOW_TEST_EXIT_AFTER_COMMIT;
    this.httpPort = undefined;
    this.state = 'starting';
    mkdirSync(this.opts.logDir, { recursive: true });
    const log = createWriteStream(join(this.opts.logDir, `${this.instanceId}.${this.incarnation}.log`), { flags: 'a' });
    // Own process group: a terminal's Ctrl-C reaches only the flood, which then stops the
    // workers itself after its check; a worker interrupted directly would look like a crash
    // and be restarted. The orphan guard still ends it if the flood dies.
    const child = spawn(process.execPath, [...workerNodeArgs(), '--require', guard, script], { cwd: ROOT, env: { ...this.opts.env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    this.child = child;
    let pending = '';
    child.stdout.on('data', (chunk: Buffer) => {
      log.write(chunk);
      if (this.state !== 'starting') return;
      pending += chunk.toString('utf8');
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) this.onLine(line);
    });
    child.stderr.on('data', (chunk: Buffer) => log.write(chunk));
    this.exited = new Promise((done) =>
      child.once('exit', (code, signal) => {
        log.end();
        if (this.child !== child) return done({ code, signal });
        this.state = 'exited';
        this.child = undefined;
        this.readyWaiters.splice(0).forEach((w) => w.reject(new Error(`${this.instanceId} exited (code ${code}, signal ${signal})`)));
        done({ code, signal });
        this.onExit?.(this, { code, signal });
      }),
    );
  }

  private onLine(line: string): void {
    if (!line.includes(`${this.service} ready`)) return;
    try {
      const parsed = JSON.parse(line) as { httpPort?: unknown };
      if (typeof parsed.httpPort === 'number') this.httpPort = parsed.httpPort;
    } catch {
      return;
    }
    this.state = 'running';
    this.readyWaiters.splice(0).forEach((w) => w.resolve());
  }

  ready(timeoutMs = 60_000): Promise<void> {
    if (this.state === 'running' || this.state === 'paused') return Promise.resolve();
    if (this.state === 'exited') return Promise.reject(new Error(`${this.instanceId} is not running`));
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`${this.instanceId} not ready after ${timeoutMs} ms`)), timeoutMs);
      this.readyWaiters.push({
        resolve: () => {
          clearTimeout(t);
          resolve();
        },
        reject: (e) => {
          clearTimeout(t);
          reject(e);
        },
      });
    });
  }

  signal(sig: NodeJS.Signals): boolean {
    if (!this.child || this.state === 'exited') return false;
    const before = this.state;
    const ok = this.child.kill(sig);
    if (ok && sig === 'SIGSTOP' && before !== 'paused') {
      this.beforePause = before;
      this.state = 'paused';
    }
    if (ok && sig === 'SIGCONT' && before === 'paused') this.state = this.beforePause;
    return ok;
  }

  /** SIGCONT (a stopped process ignores SIGTERM), SIGTERM, then SIGKILL after the grace period. */
  async stop(graceMs = 10_000): Promise<void> {
    if (!this.child || this.state === 'exited') return;
    this.onExit = undefined;
    const child = this.child;
    child.kill('SIGCONT');
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(t);
  }

  /** Sums of a few Prometheus counters of this incarnation (undefined when it has no port). */
  async scrape(names: string[]): Promise<Record<string, number> | undefined> {
    if (this.httpPort === undefined || this.state !== 'running') return undefined;
    const res = await fetch(`http://127.0.0.1:${this.httpPort}/metrics`, { signal: AbortSignal.timeout(2000) });
    const text = await res.text();
    const out: Record<string, number> = Object.fromEntries(names.map((n) => [n, 0]));
    for (const line of text.split('\n')) {
      for (const n of names) {
        const base = n.split('{')[0]!;
        const filter = n.includes('{') ? n.slice(n.indexOf('{') + 1, -1) : '';
        if (line.startsWith(`${base}{`) && (!filter || line.includes(filter))) out[n]! += Number(line.slice(line.lastIndexOf(' ') + 1)) || 0;
      }
    }
    return out;
  }
}
