import { createHmac } from 'node:crypto';
import type { WebhookEvent } from './types';

/**
 * valid; forged (another secret); tampered (signed, then the amount changed); stale (genuinely
 * signed, but as of an hour ago: a replay); unsigned (no x-signature at all).
 */
export type SignatureMode = 'valid' | 'forged' | 'tampered' | 'stale' | 'unsigned';

const STALE_BY_S = 3600;

const RETRY_FOR_MS = 60_000;

/**
 * Signs and POSTs webhooks the way the provider does: `x-signature: t=<unix seconds>,v1=<hex>`,
 * the HMAC-SHA256 of `<t>.` and the exact body. Implemented here independently of payment-worker's verifier on purpose: the
 * simulator is the other party, not a copy of our code. Non-2xx answers (and no answer) are
 * retried with capped backoff for RETRY_FOR_MS, as real PSPs do (for days, there): an
 * asynchronous capture is only ever told by webhook, so a few seconds of retries would lose
 * it whenever every payment gateway is down at once (the flood kills and cuts them).
 */
export class WebhookSender {
  private readonly inFlight = new Set<Promise<unknown>>();
  private closed = false;

  constructor(private readonly secret: () => string) {}

  body(event: WebhookEvent): Buffer {
    return Buffer.from(JSON.stringify(event));
  }

  signature(body: Buffer, mode: SignatureMode): { body: Buffer; signature: string | undefined } {
    const now = Math.floor(Date.now() / 1000);
    const sign = (secret: string, bytes: Buffer, t: number) => `t=${t},v1=${createHmac('sha256', secret).update(`${t}.`).update(bytes).digest('hex')}`;
    if (mode === 'unsigned') return { body, signature: undefined };
    if (mode === 'forged') return { body, signature: sign('not-the-shared-secret', body, now) };
    if (mode === 'stale') return { body, signature: sign(this.secret(), body, now - STALE_BY_S) };
    const signature = sign(this.secret(), body, now);
    // Signed, then changed on the way: same signature, different bytes.
    if (mode === 'tampered') return { body: Buffer.from(body.toString('utf8').replace(/"amount":(\d+)/, (_m, n: string) => `"amount":${Number(n) + 1}`)), signature };
    return { body, signature };
  }

  /** Sends `copies` identical deliveries in parallel after `delayMs`; resolves with their HTTP statuses. */
  send(url: string, event: WebhookEvent, opts: { copies?: number; delayMs?: number; mode?: SignatureMode } = {}): Promise<number[]> {
    const { body, signature } = this.signature(this.body(event), opts.mode ?? 'valid');
    const run = (async () => {
      if (opts.delayMs) await new Promise((r) => setTimeout(r, opts.delayMs));
      return Promise.all(Array.from({ length: Math.max(1, opts.copies ?? 1) }, () => this.deliver(url, body, signature)));
    })();
    this.inFlight.add(run);
    void run.finally(() => this.inFlight.delete(run)).catch(() => undefined);
    return run;
  }

  private async deliver(url: string, body: Buffer, signature: string | undefined): Promise<number> {
    let status = 0;
    const giveUpAt = Date.now() + RETRY_FOR_MS;
    for (let attempt = 0; Date.now() < giveUpAt && !this.closed; attempt++) {
      try {
        const headers: Record<string, string> = { 'content-type': 'application/json' };
        if (signature !== undefined) headers['x-signature'] = signature;
        const res = await fetch(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(5000) });
        status = res.status;
        await res.arrayBuffer();
        if (status < 500) return status;
      } catch {
        status = 0;
      }
      await new Promise((r) => setTimeout(r, Math.min(2_000, 100 * 2 ** attempt)));
    }
    return status;
  }

  /** Waits for webhooks still being sent (tests call this before reading results). */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  close(): void {
    this.closed = true;
  }
}
