import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';

/**
 * The raw history as JSON lines (--history DIR): publishes.jsonl (one line per settled
 * publish, duplicates included) and events.jsonl (every distinct event with its payload).
 * Enough to replay a failing run's story by hand; the checker works on the in-memory form.
 */
export class HistoryWriter {
  private readonly publishes: WriteStream;
  private readonly events: WriteStream;

  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
    this.publishes = createWriteStream(join(dir, 'publishes.jsonl'));
    this.events = createWriteStream(join(dir, 'events.jsonl'));
  }

  publish(record: object): void {
    this.publishes.write(JSON.stringify(record) + '\n');
  }

  event(record: object): void {
    this.events.write(JSON.stringify(record) + '\n');
  }

  async close(): Promise<void> {
    for (const s of [this.publishes, this.events]) {
      s.end();
      if (!s.closed) await once(s, 'close');
    }
  }
}
