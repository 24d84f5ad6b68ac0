import { publishRound } from './outbox-round';

interface Row {
  messageId: string;
  mandatory: boolean;
  properties: Record<string, unknown>;
}

const row = (messageId: string, key: string, mandatory = true): Row => ({ messageId, mandatory, properties: { headers: { 'x-partition-key': key } } });

/** A broker that confirms after `confirmMs` and refuses the ids in `refused`; records the send order. */
function broker(refused: string[], confirmMs = 5) {
  const sent: string[] = [];
  /** How many rows had been sent when the first confirm came back. */
  const atFirstConfirm: number[] = [];
  const send = (r: Row) => {
    sent.push(r.messageId);
    return new Promise<void>((resolve, reject) =>
      setTimeout(() => {
        if (atFirstConfirm.length === 0) atFirstConfirm.push(sent.length);
        if (refused.includes(r.messageId)) reject(new Error(`unroutable ${r.messageId}`));
        else resolve();
      }, confirmMs),
    );
  };
  return { sent, send, atFirstConfirm };
}

describe('publishing an outbox round', () => {
  it('sends every key at once, and a key\'s rows behind a mandatory one only after its confirm', async () => {
    const { sent, send } = broker([]);
    const rows = [row('a1', 'A'), row('b1', 'B'), row('a2', 'A', false), row('a3', 'A'), row('c1', 'C', false), row('c2', 'C', false)];
    const outcomes = await publishRound(rows, send);
    expect(outcomes.map((o) => o.status)).toEqual(['confirmed', 'confirmed', 'confirmed', 'confirmed', 'confirmed', 'confirmed']);
    // B and C go out before A's later rows (which wait for a1's confirm); A keeps its order.
    expect(sent).toEqual(['a1', 'b1', 'c1', 'c2', 'a2', 'a3']);
  });

  it('a refused row blocks the rest of its key in this round, never another key, and nothing after it overtakes it', async () => {
    const { sent, send } = broker(['r2']);
    const rows = [row('r1', 'K1'), row('r2', 'K2'), row('r3', 'K3'), row('r4', 'K2', false), row('r5', 'K2'), row('r6', 'K1')];
    const outcomes = await publishRound(rows, send);
    expect(outcomes.map((o) => [o.row.messageId, o.status])).toEqual([
      ['r1', 'confirmed'],
      ['r2', 'failed'],
      ['r3', 'confirmed'],
      ['r4', 'blocked'],
      ['r5', 'blocked'],
      ['r6', 'confirmed'],
    ]);
    expect(sent).not.toContain('r4');
    expect(sent).not.toContain('r5');
  });

  it('non-mandatory rows of one key go out pipelined, in order', async () => {
    const { sent, send, atFirstConfirm } = broker([], 20);
    const rows = Array.from({ length: 50 }, (_, i) => row(`s${i}`, 'HOT', false));
    await publishRound(rows, send);
    expect(sent).toEqual(rows.map((r) => r.messageId));
    // All fifty were on their way before the first confirm came back.
    expect(atFirstConfirm).toEqual([50]);
  });
});
