/**
 * When a sweep may send the same id again. A sweep that finds an item still overdue (its
 * earlier command queued behind a backlog, or the answer not decided yet) must not re-send it
 * on every pass: each send is a transaction (and maybe a provider call) of its own. So an id
 * goes again only after a backoff that starts at `firstMs` and doubles up to `maxMs`; an id
 * left alone for twice its backoff is forgotten and starts from the first step again.
 */
export class ResendBackoff {
  private readonly sent = new Map<string, { at: number; backoffMs: number }>();

  constructor(private readonly opts: { firstMs: number; maxMs: number }) {}

  /** Forgets ids long past their backoff; call once per pass. */
  prune(now: number): void {
    for (const [id, s] of this.sent) if (now > s.at + 2 * s.backoffMs) this.sent.delete(id);
  }

  due(id: string, now: number): boolean {
    const s = this.sent.get(id);
    return !s || now >= s.at + s.backoffMs;
  }

  /** `id` was sent at `now`: the next send waits twice as long as the last (first: `firstMs`). */
  record(id: string, now: number): void {
    const s = this.sent.get(id);
    this.sent.set(id, { at: now, backoffMs: s ? Math.min(s.backoffMs * 2, this.opts.maxMs) : this.opts.firstMs });
  }
}
