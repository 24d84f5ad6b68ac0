import type { Pool } from 'pg';
import { contracts, isUndefinedTable, MESSAGE_ID_PATTERN, messageFingerprint, PublishError, ValidationError, WORKER_NAMES, type CommandContract, type MessageType, type Publisher } from '@stockflow/shared';
import { findCommand, forgetPublishing, insertPublishing, markPublished, reclaim, type CommandRow } from './db/commands-table';
import type { Outcomes } from './outcomes';
import { problem, type Answer } from './problem';

/** The commands a client may send over HTTP: every upstream command that needs no header of its own. */
export const HTTP_COMMANDS = (Object.entries(contracts) as [MessageType, CommandContract][])
  .filter(([, c]) => c.kind === 'command' && !c.internal && !c.requiredHeaders)
  .map(([t]) => t);

/** How often a request whose key another request is sending looks again. */
const CONCURRENT_LOOK_MS = 25;
/** Beyond the send timeout: how long a request may hold a key before another may take it over. */
const CLAIM_SLACK_MS = 2_000;

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
    // As the workers compute it: of the parsed payload (the schema's field order), not the bytes.
    const parsed: unknown = contract.schema.parse(payload);
    const fingerprint = messageFingerprint(type, contract.identity ? contract.identity.parse(parsed) : parsed);
    const key = req.key;
    const deadline = Date.now() + this.opts.sendTimeoutMs + CLAIM_SLACK_MS;
    for (;;) {
      if (await insertPublishing(this.pool, { messageId: key, client: req.client, type, fingerprint, partition })) return this.publish(req, type, payload, fingerprint, false);
      const row = await findCommand(this.pool, key);
      if (row && (row.fingerprint !== fingerprint || row.client !== req.client || row.type !== type)) return reused(key);
      if (row && row.state !== 'publishing' && row.state !== 'unconfirmed') return this.answer(row, req.waitS, true);
      // Being sent by another request, or left unconfirmed, or by a request that died: the same
      // request may take it over (at once when unconfirmed, once stale when publishing).
      if (row && (await reclaim(this.pool, key, fingerprint, this.opts.sendTimeoutMs + CLAIM_SLACK_MS))) return this.publish(req, type, payload, fingerprint, true);
      if (Date.now() > deadline) return unavailable('another request with this Idempotency-Key is still being sent; send it again');
      await new Promise((r) => setTimeout(r, CONCURRENT_LOOK_MS));
    }
  }

  async status(client: string, messageId: string): Promise<Answer> {
    const row = await findCommand(this.pool, messageId);
    if (!row || row.client !== client) return problem(404, 'unknown_command_id', `No command ${messageId}`, 'The gateway did not accept it for this client, or it is older than the retention window');
    return this.answer(row, 0, false);
  }

  /**
   * Sends the command whose row this request holds (state publishing), unless a worker's inbox
   * already has the key: with another fingerprint that is a reuse; with the same, it was sent
   * over AMQP and applied (processed). A failure here leaves the row publishing: a retry of the
   * same request takes it over once it is stale.
   */
  private async publish(req: CommandRequest, type: MessageType, payload: unknown, fingerprint: string, replayed: boolean): Promise<Answer> {
    const key = req.key!;
    const used = await this.inboxFingerprint(type, key);
    if (used !== undefined && used !== fingerprint) {
      await forgetPublishing(this.pool, key);
      return reused(key);
    }
    let row: CommandRow | undefined;
    if (used !== undefined) row = await markPublished(this.pool, key, 'processed');
    else {
      try {
        await this.publisher.send(type, payload as never, { messageId: key });
      } catch (err) {
        if (!(err instanceof PublishError)) throw err;
        // Refused outright, the key is free again; otherwise the broker may have it after all,
        // and only this same request may send it again.
        if (err.kind === 'unroutable' || err.kind === 'unencodable') await forgetPublishing(this.pool, key);
        else await markPublished(this.pool, key, 'unconfirmed');
        return unavailable(`${err.message}; send it again with the same Idempotency-Key`);
      }
      row = await markPublished(this.pool, key, 'accepted');
    }
    return this.answer(row!, req.waitS, replayed);
  }

  /** What the consuming worker's inbox has under this id (its fingerprint), if anything. */
  private async inboxFingerprint(type: MessageType, messageId: string): Promise<string | undefined> {
    const { worker } = contracts[type] as CommandContract;
    const { schema, service } = WORKER_NAMES[worker];
    try {
      const rows = await this.pool.query<{ fingerprint: string | null }>(`SELECT fingerprint FROM "${schema}".inbox WHERE consumer = $1 AND message_id = $2`, [service, messageId]);
      return rows.rows.length === 0 ? undefined : (rows.rows[0]!.fingerprint ?? 'unknown');
    } catch (err) {
      // That worker never started on this database: nothing of it was applied.
      if (isUndefinedTable(err)) return undefined;
      throw err;
    }
  }

  private async answer(row: CommandRow, waitS: number, replayed: boolean): Promise<Answer> {
    const current = waitS > 0 && row.state === 'accepted' ? ((await this.outcomes.waitFor(row.message_id, waitS * 1000)) ?? row) : row;
    const headers: Record<string, string> = { location: `/v1/commands/${encodeURIComponent(current.message_id)}`, ...(replayed ? { 'idempotent-replayed': 'true' } : {}) };
    const base = { messageId: current.message_id, type: current.type, partition: current.partition, state: current.state };
    const outcome = current.outcome_type ? { outcome: { type: current.outcome_type, payload: current.outcome } } : {};
    switch (current.state) {
      case 'applied':
        return { status: 201, body: { ...base, ...outcome }, headers };
      case 'processed':
        return { status: 200, body: { ...base, detail: 'a worker applied this id before the gateway saw it (sent over AMQP); its outcome event went out then' }, headers };
      case 'rejected':
        return problem(409, 'rejected', `${current.type} was refused`, current.reason ?? 'rejected', { ...base, ...outcome }, headers);
      case 'dead_lettered':
        return problem(422, 'dead_lettered', `${current.type} was dead-lettered`, current.reason ?? 'dead-lettered', base, headers);
      case 'unconfirmed':
        return unavailable('the broker did not confirm it; send the same request again with the same Idempotency-Key', base);
      default:
        return { status: 202, body: base, headers };
    }
  }
}

function unavailable(detail: string, extra: Record<string, unknown> = {}): Answer {
  return problem(503, 'unavailable', 'The broker did not confirm the command', detail, extra, { 'retry-after': '1' });
}

function reused(key: string): Answer {
  return problem(422, 'idempotency_key_reused', 'Idempotency-Key already used for another request', `The key ${key} was used with another body, type or client; nothing was sent`);
}

/** `lines.0.quantity: Too small…` → { field: 'lines.0.quantity', message }. */
function issue(text: string): { field: string; message: string } {
  const i = text.indexOf(': ');
  return i < 0 ? { field: '(body)', message: text } : { field: text.slice(0, i), message: text.slice(i + 2) };
}
