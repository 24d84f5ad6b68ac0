import { fnv1a32, type MessageType } from '@stockflow/shared';
import { HTTP_COMMANDS } from '@stockflow/gateway';

/**
 * Requests queued or in flight at most (over all keys); publishing waits for room beyond it. One
 * key's requests go one at a time, so a hot key's queue must not take every slot.
 */
const MAX_QUEUED = 2000;
/** A request the gateway could not take (503, a dropped connection) is sent again, this often at most. */
const ATTEMPTS = 20;
const RETRY_MS = 250;

export interface HttpSend {
  key: string;
  type: MessageType;
  messageId: string;
  payload: unknown;
  onSent(attempt: number): void;
  onConfirmed(): void;
  onFailed(): void;
}

/**
 * The flood's second door: a share of its partition keys go to the HTTP gateway instead of the
 * broker, every command of such a key (a key never uses both doors). HTTP has no per-key order
 * of its own, so each key's requests go one after another, each after the previous one's answer
 * (the gateway numbers the key in its own session, in that order); different keys go at once.
 * 202, 201 and 409 mean the broker confirmed the command (409: the worker refused it, as it
 * may); a 503 or a failed connection is sent again with the same Idempotency-Key, up to ATTEMPTS.
 */
export class HttpDoor {
  private readonly tails = new Map<string, Promise<void>>();
  private inFlight = 0;
  private room: (() => void)[] = [];
  private idleWaiters: (() => void)[] = [];
  sent = 0;

  constructor(
    private readonly url: string,
    private readonly token: string,
    private readonly share: number,
  ) {}

  /** Whether this key's commands go through the gateway (by the key's hash, so stably). */
  takes(key: string, type: string): boolean {
    return (HTTP_COMMANDS as string[]).includes(type) && fnv1a32(`via:${key}`) / 2 ** 32 < this.share;
  }

  async space(): Promise<void> {
    while (this.inFlight >= MAX_QUEUED) await new Promise<void>((r) => this.room.push(r));
  }

  idle(): Promise<void> {
    return this.inFlight === 0 ? Promise.resolve() : new Promise<void>((r) => this.idleWaiters.push(r));
  }

  send(s: HttpSend): void {
    this.inFlight++;
    const previous = this.tails.get(s.key) ?? Promise.resolve();
    const mine = previous.then(() => this.deliver(s)).finally(() => {
      if (this.tails.get(s.key) === mine) this.tails.delete(s.key);
      this.inFlight--;
      this.room.shift()?.();
      if (this.inFlight === 0) for (const w of this.idleWaiters.splice(0)) w();
    });
    this.tails.set(s.key, mine);
  }

  private async deliver(s: HttpSend): Promise<void> {
    for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
      s.onSent(attempt);
      const status = await fetch(`${this.url}/v1/commands/${s.type}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${this.token}`, 'idempotency-key': s.messageId, 'content-type': 'application/json' },
        body: JSON.stringify(s.payload),
      }).then(async (r) => {
        await r.arrayBuffer();
        return r.status;
      }, () => 0);
      if (status === 201 || status === 202 || status === 409) {
        this.sent++;
        s.onConfirmed();
        return;
      }
      if (status !== 0 && status !== 503 && status !== 429) break; // refused for good: a bug to see
      await new Promise((r) => setTimeout(r, RETRY_MS));
    }
    s.onFailed();
  }
}
