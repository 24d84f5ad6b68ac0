import type { Pool } from 'pg';
import { contracts, MESSAGE_ID_PATTERN, messageFingerprint, PublishError, ValidationError, WORKER_NAMES, type CommandContract, type MessageType, type Publisher } from '@stockflow/shared';
import { findCommand, forgetPublishing, insertPublishing, markAccepted, type CommandRow } from './db/commands-table';
import type { Outcomes } from './outcomes';
import { problem, type Answer } from './problem';

/** The commands a client may send over HTTP: every command that needs no header of its own. */
export const HTTP_COMMANDS = (Object.entries(contracts) as [MessageType, CommandContract][])
  .filter(([, c]) => c.kind === 'command' && !c.requiredHeaders)
  .map(([t]) => t);

/** How often a request whose key another request is publishing looks again, and for how long at most. */
const CONCURRENT_LOOK_MS = 25;
/** Attempts at one key when the request that held it failed to publish (each starts over). */
const KEY_ATTEMPTS = 3;

export interface CommandRequest {
  client: string;
  type: string;
  key: string | undefined;
  body: Buffer;
  waitS: number;
}

/**
 * Turns an HTTP request into the confirmed command an AMQP publisher would send, at most once
 * per Idempotency-Key (the message id):
 *   new key           → a `publishing` row, the publish, `accepted` once the broker confirmed
 *                       (202; with Prefer: wait, the outcome: 201, 409, or 202 when it ran out)
 *   same key and body → the same answer from the row; nothing is published again
 *   same key, other   → 422 idempotency_key_reused, nothing published
 * A key the gateway has no row of may have been used over AMQP: the worker's inbox says so, by
 * the same fingerprint (type and payload) the workers compare.
 */
export class CommandDesk {
  constructor(
    private readonly pool: Pool,
    private readonly publisher: Publisher,
    private readonly outcomes: Outcomes,
    private readonly opts: { maxMessageBytes: number; sendTimeoutMs: number },
  ) {}

  async submit(req: CommandRequest): Promise<Answer> {
    if (!(HTTP_COMMANDS as string[]).includes(req.type)) return problem(404, 'unknown_command', `No command ${req.type}`, `known: ${HTTP_COMMANDS.join(', ')}`);
    const type = req.type as MessageType;
    if (!req.key) return problem(400, 'idempotency_key_missing', 'An Idempotency-Key header is required', 'It becomes the message id: sending the same request again with it is safe');
    if (!MESSAGE_ID_PATTERN.test(req.key)) return problem(400, 'idempotency_key_invalid', 'Invalid Idempotency-Key', `1 to 200 characters of ${MESSAGE_ID_PATTERN.source.slice(2, -6)}`);
    if (req.body.length > this.opts.maxMessageBytes) return problem(413, 'too_large', 'Body too large', `over MAX_MESSAGE_BYTES (${this.opts.maxMessageBytes} bytes)`);
    let payload: unknown;
    try {
      payload = JSON.parse(req.body.toString('utf8'));
    } catch (err) {
      return problem(400, 'invalid_json', 'The body is not JSON', (err as Error).message);
    }
    let partition: number;
    try {
      // The workers' own checks (schema, size, id), without sending anything.
      partition = this.publisher.prepare(type, payload as never, { messageId: req.key }).route.partition;
    } catch (err) {
      if (err instanceof ValidationError) return problem(400, 'invalid_command', `${type} is invalid`, err.issues.join('; '), { errors: err.issues.map(issue) });
      throw err;
    }
    const contract = contracts[type] as CommandContract;
    const fingerprint = messageFingerprint(type, contract.identity ? contract.identity.parse(payload) : payload);
    for (let attempt = 1; ; attempt++) {
      const row = await this.claim(req, type, fingerprint, partition, payload);
      if ('status' in row) return row;
      if (row.row) return this.answer(row.row, req.waitS, row.replayed);
      if (attempt >= KEY_ATTEMPTS) return problem(503, 'unavailable', 'The broker did not confirm the command', 'Send it again with the same Idempotency-Key', {}, { 'retry-after': '1' });
    }
  }

  async status(client: string, messageId: string): Promise<Answer> {
    const row = await findCommand(this.pool, messageId);
    if (!row || row.client !== client) return problem(404, 'unknown_command_id', `No command ${messageId}`, 'The gateway did not accept it for this client, or it is older than the retention window');
    return this.answer(row, 0, false);
  }

  /** The key's row: ours after publishing, another request's (replayed), or an answer refusing it. */
  private async claim(req: CommandRequest, type: MessageType, fingerprint: string, partition: number, payload: unknown): Promise<Answer | { row: CommandRow | undefined; replayed: boolean }> {
    if (await insertPublishing(this.pool, { messageId: req.key!, client: req.client, type, fingerprint, partition })) {
      const used = await this.inboxFingerprint(type, req.key!);
      if (used !== undefined && used !== fingerprint) {
        await forgetPublishing(this.pool, req.key!);
        return reused(req.key!);
      }
      if (used === undefined) {
        try {
          await this.publisher.send(type, payload as never, { messageId: req.key! });
        } catch (err) {
          await forgetPublishing(this.pool, req.key!);
          if (err instanceof PublishError) return problem(503, 'unavailable', 'The broker did not confirm the command', `${err.message}; send it again with the same Idempotency-Key`, {}, { 'retry-after': '1' });
          throw err;
        }
      }
      await markAccepted(this.pool, req.key!);
      return { row: await findCommand(this.pool, req.key!), replayed: false };
    }
    // Another request has (or had) this key: the same command, or a reuse.
    const deadline = Date.now() + this.opts.sendTimeoutMs + 1000;
    for (;;) {
      const row = await findCommand(this.pool, req.key!);
      if (!row) return { row: undefined, replayed: false }; // its publish failed: try the key ourselves
      if (row.fingerprint !== fingerprint || row.client !== req.client || row.type !== type) return reused(req.key!);
      if (row.state !== 'publishing' || Date.now() > deadline) return { row, replayed: true };
      await new Promise((r) => setTimeout(r, CONCURRENT_LOOK_MS));
    }
  }

  /** What the consuming worker's inbox has under this id (its fingerprint), if anything. */
  private async inboxFingerprint(type: MessageType, messageId: string): Promise<string | undefined> {
    const { worker } = contracts[type] as CommandContract;
    const { schema, service } = WORKER_NAMES[worker];
    const rows = await this.pool.query<{ fingerprint: string | null }>(`SELECT fingerprint FROM "${schema}".inbox WHERE consumer = $1 AND message_id = $2`, [service, messageId]);
    if (rows.rows.length === 0) return undefined;
    return rows.rows[0]!.fingerprint ?? 'unknown';
  }

  private async answer(row: CommandRow, waitS: number, replayed: boolean): Promise<Answer> {
    const current = waitS > 0 && (row.state === 'accepted' || row.state === 'publishing') ? ((await this.outcomes.waitFor(row.message_id, waitS * 1000)) ?? row) : row;
    const headers: Record<string, string> = { location: `/v1/commands/${encodeURIComponent(current.message_id)}`, ...(replayed ? { 'idempotent-replayed': 'true' } : {}) };
    const base = { messageId: current.message_id, type: current.type, partition: current.partition, state: current.state === 'publishing' ? 'accepted' : current.state };
    const outcome = current.outcome_type ? { outcome: { type: current.outcome_type, payload: current.outcome } } : {};
    switch (current.state) {
      case 'applied':
        return { status: 201, body: { ...base, ...outcome }, headers };
      case 'rejected':
        return problem(409, 'rejected', `${current.type} was refused`, current.reason ?? 'rejected', { ...base, ...outcome }, headers);
      case 'dead_lettered':
        return problem(422, 'dead_lettered', `${current.type} was dead-lettered`, current.reason ?? 'dead-lettered', base, headers);
      default:
        return { status: 202, body: base, headers };
    }
  }
}

function reused(key: string): Answer {
  return problem(422, 'idempotency_key_reused', 'Idempotency-Key already used for another request', `The key ${key} was used with another body, type or client; nothing was sent`);
}

/** `lines.0.quantity: Too small…` → { field: 'lines.0.quantity', message }. */
function issue(text: string): { field: string; message: string } {
  const i = text.indexOf(': ');
  return i < 0 ? { field: '(body)', message: text } : { field: text.slice(0, i), message: text.slice(i + 2) };
}
