import type { Command } from './e2e';
import { round, summarize } from './stats';

/** Requests in flight at once: an upstream with a connection pool of this size. */
export const HTTP_CONCURRENCY = 50;

export interface HttpLoad {
  requests: number;
  requests_per_s: number;
  p50_ms: number;
  p99_ms: number;
  /** Answers by status: 202 (confirmed), 201 (applied, with wait), anything else is a failure. */
  statuses: Record<string, number>;
}

/**
 * Sends `commands` to the gateway from HTTP_CONCURRENCY loops, each request after its previous
 * answer; latency is request → answer (with `waitS`, the outcome is in the answer).
 */
export async function runHttpLoad(gateway: { url: string; token: string }, commands: Command[], waitS: number): Promise<HttpLoad> {
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  let next = 0;
  const started = performance.now();
  const loop = async () => {
    for (let i = next++; i < commands.length; i = next++) {
      const c = commands[i]!;
      const t = performance.now();
      const res = await fetch(`${gateway.url}/v1/commands/${c.type}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${gateway.token}`, 'idempotency-key': c.messageId, 'content-type': 'application/json', ...(waitS > 0 ? { prefer: `wait=${waitS}` } : {}) },
        body: JSON.stringify(c.payload),
      });
      await res.arrayBuffer();
      latencies.push(performance.now() - t);
      statuses[res.status] = (statuses[res.status] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: HTTP_CONCURRENCY }, loop));
  const s = summarize(latencies);
  return { requests: commands.length, requests_per_s: Math.round(commands.length / ((performance.now() - started) / 1000)), p50_ms: round(s.p50), p99_ms: round(s.p99), statuses };
}
