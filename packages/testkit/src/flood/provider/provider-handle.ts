import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync } from 'node:fs';
import { join } from 'node:path';
import { DEV_WEBHOOK_SECRET } from '@stockflow/payment-worker';
import type { Behaviour, Charge, Refund } from '../../provider-simulator';
import { ROOT } from '../supervisor/worker-process';
import type { ProviderPlan } from '../workload/types';

export interface ProviderLedgerSnapshot {
  charges: Charge[];
  refunds: Refund[];
}

/**
 * The payment provider the flood's payment workers talk to, and the checker's external
 * witness of money: a simulator process the flood starts (owned runs) or one already running
 * (attach mode), both driven through the simulator's /admin API. It runs as a process of its
 * own, like a real PSP, so a busy flood process never makes it answer late.
 */
export interface ProviderHandle {
  readonly url: string;
  readonly webhookSecret: string;
  /** Makes the provider decline or time out the charges of these orders. */
  apply(plans: ProviderPlan[]): Promise<void>;
  ledger(): Promise<ProviderLedgerSnapshot>;
  stop(): Promise<void>;
}

export interface ProviderTuning {
  /** How long a timed-out request hangs before the socket drops (longer than the client timeout). */
  hangMs: number;
  webhookDuplicates: number;
  webhookDelayMs: number;
}

/** A simulator started elsewhere (e.g. by `npm start`), driven over HTTP. */
export class RemoteProvider implements ProviderHandle {
  constructor(
    public url: string,
    readonly webhookSecret: string = DEV_WEBHOOK_SECRET,
  ) {}

  async check(): Promise<void> {
    await this.call('GET', '/admin/behaviour');
  }

  async apply(plans: ProviderPlan[]): Promise<void> {
    const declines = plans.filter((p) => p.decline).map((p) => p.orderId);
    const asyncCaptures = plans.filter((p) => p.asyncCapture).map((p) => p.orderId);
    const timeouts = plans.filter((p) => p.timeout);
    if (declines.length === 0 && timeouts.length === 0 && asyncCaptures.length === 0) return;
    // configure() replaces lists wholesale: merge with what the provider holds now (its
    // timeout counters included, so used-up timeouts are not re-armed).
    const current = (await this.call('GET', '/admin/behaviour')) as Behaviour;
    const change: Partial<Behaviour> = {
      declineOrders: [...current.declineOrders, ...declines],
      asyncCaptureOrders: [...current.asyncCaptureOrders, ...asyncCaptures],
      timeouts: { ...current.timeouts, ...Object.fromEntries(timeouts.map((p) => [p.orderId, { count: 1, mode: p.timeout! }])) },
    };
    await this.call('POST', '/admin/behaviour', change);
  }

  async ledger(): Promise<ProviderLedgerSnapshot> {
    const body = (await this.call('GET', '/admin/ledger')) as ProviderLedgerSnapshot;
    return { charges: body.charges, refunds: body.refunds };
  }

  async stop(): Promise<void> {}

  async configure(change: Partial<Behaviour>): Promise<void> {
    await this.call('POST', '/admin/behaviour', change);
  }

  /** A loaded simulator answers late rather than never: a minute before giving up. */
  protected async call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
    const res = await fetch(new URL(path, this.url), {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(60_000),
    });
    if (!res.ok) throw new Error(`provider ${method} ${path}: HTTP ${res.status}`);
    return res.json();
  }
}

const START_TIMEOUT_MS = 60_000;

/** The simulator as a child process (`node packages/testkit/dist/provider-simulator/main.js`) on a free port. */
export class ProviderProcess extends RemoteProvider {
  private constructor(
    private readonly child: ChildProcess,
    webhookSecret: string,
  ) {
    super('http://127.0.0.1:0', webhookSecret);
  }

  static async start(webhookUrl: string, tuning: ProviderTuning, logFile: string): Promise<ProviderProcess> {
    const script = join(ROOT, 'packages', 'testkit', 'dist', 'provider-simulator', 'main.js');
    if (!existsSync(script)) throw new Error(`${script} missing: run \`npx tsc -b\` first`);
    const guard = join(ROOT, 'packages', 'testkit', 'dist', 'flood', 'supervisor', 'orphan-guard.js');
    // A secret of this run's own: its workers run as production does, which refuses the public
    // development default.
    const webhookSecret = randomBytes(24).toString('hex');
    const child = spawn(process.execPath, ['--require', guard, script], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      // Own process group, like the workers: the flood decides when its provider stops.
      detached: true,
      env: {
        PATH: process.env.PATH ?? '',
        PROVIDER_PORT: '0',
        WEBHOOK_URL: webhookUrl,
        WEBHOOK_SECRET: webhookSecret,
        // Webhooks only for asynchronous captures (ProviderPlan.asyncCapture): there they are
        // the only news of the outcome. Webhooks for every charge double the provider's and the
        // payment partitions' work for answers the charge call already gave.
        PROVIDER_WEBHOOKS: 'off',
        PROVIDER_WEBHOOK_DUPLICATES: String(tuning.webhookDuplicates),
        PROVIDER_WEBHOOK_DELAY_MS: String(tuning.webhookDelayMs),
      },
    });
    const log = createWriteStream(logFile, { flags: 'a' });
    child.stderr.pipe(log);
    const p = new ProviderProcess(child, webhookSecret);
    try {
      p.url = await new Promise<string>((resolve, reject) => {
        let buffered = '';
        const timer = setTimeout(() => reject(new Error(`provider simulator not listening after ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
        const onData = (chunk: Buffer) => {
          log.write(chunk);
          buffered += chunk.toString('utf8');
          const m = /listening on (http:\/\/\S+)/.exec(buffered);
          if (m) {
            clearTimeout(timer);
            child.stdout.off('data', onData);
            child.stdout.pipe(log);
            resolve(m[1]!);
          }
        };
        child.stdout.on('data', onData);
        child.once('exit', (code) => {
          clearTimeout(timer);
          reject(new Error(`provider simulator exited (code ${code}) before listening`));
        });
      });
      await p.configure({ hangMs: tuning.hangMs });
    } catch (err) {
      // Nobody gets a handle to stop it with.
      await p.stop(0);
      throw err;
    }
    return p;
  }

  /** SIGTERM, then SIGKILL after `graceMs` (0: at once). */
  override async stop(graceMs = 5000): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(t);
  }
}
