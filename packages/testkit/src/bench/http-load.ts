import { randomBytes } from 'node:crypto';
import { Gateway, loadGatewayConfig } from '@stockflow/gateway';
import type { BenchEnv } from './bench-env';
import type { Command } from './e2e';
import { round, summarize } from './stats';
import type { Teardown } from '../support/teardown';

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

/** A gateway for the bench's namespace, in the bench's process, with a token of its own. */
export async function startBenchGateway(env: BenchEnv, partitions: number, teardown: Teardown): Promise<{ url: string; token: string }> {
  const token = randomBytes(24).toString('hex');
  const gateway = await teardown.create(
    'gateway',
    async () => {
      const g = new Gateway(loadGatewayConfig({ DATABASE_URL: env.databaseUrl, AMQP_URL: env.amqpUrl, STOCKFLOW_NAMESPACE: env.namespace, PARTITIONS: String(partitions), HTTP_PORT: '0', GATEWAY_TOKENS: `bench:${token}`, GATEWAY_RATE_PER_S: '1000000', INSTANCE_ID: `${env.namespace}-gateway`, LOG_LEVEL: 'warn' }), { log: env.log });
      await g.start();
      return g;
    },
    (g) => g.stop(),
  );
  return { url: `http://127.0.0.1:${gateway.httpPort}`, token };
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
