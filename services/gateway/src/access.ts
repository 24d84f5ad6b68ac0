import { timingSafeEqual } from 'node:crypto';
import { problem, type Answer } from './problem';

/**
 * Who is calling (a bearer token from GATEWAY_TOKENS) and whether they may now: a token
 * bucket per client of `ratePerS` requests, refilled continuously. Per gateway instance: with N
 * instances behind a balancer a client gets up to N × the rate.
 */
export class Access {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly clients: ReadonlyMap<string, string>,
    private readonly ratePerS: number,
  ) {}

  /** The client's name, or the answer refusing the request (401, 429). */
  admit(authorization: string | undefined, now = Date.now()): { client: string } | Answer {
    const token = /^Bearer (\S+)$/i.exec(authorization ?? '')?.[1];
    const client = token === undefined ? undefined : this.lookup(token);
    if (!client) return problem(401, 'unauthorized', 'A valid bearer token is required', 'Send Authorization: Bearer <token> with a token from GATEWAY_TOKENS', {}, { 'www-authenticate': 'Bearer realm="stockflow"' });
    const b = this.buckets.get(client) ?? { tokens: this.ratePerS, at: now };
    b.tokens = Math.min(this.ratePerS, b.tokens + ((now - b.at) / 1000) * this.ratePerS);
    b.at = now;
    this.buckets.set(client, b);
    if (b.tokens < 1) {
      const retryS = Math.max(1, Math.ceil((1 - b.tokens) / this.ratePerS));
      return problem(429, 'rate_limited', 'Too many requests', `over ${this.ratePerS} requests per second for client ${client}`, {}, { 'retry-after': String(retryS) });
    }
    b.tokens -= 1;
    return { client };
  }

  /** Compares in constant time per token, so an answer's timing tells nothing of a token. */
  private lookup(token: string): string | undefined {
    const given = Buffer.from(token);
    let found: string | undefined;
    for (const [known, client] of this.clients) {
      const k = Buffer.from(known);
      if (k.length === given.length && timingSafeEqual(k, given)) found = client;
    }
    return found;
  }
}
