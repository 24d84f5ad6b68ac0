import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TEST_LOG_DIR } from '../support';
import { runFlood } from './flood';
import { parseFaults } from './faults/plan';
import { defaultOptions } from './options';
import type { FloodReport } from './report/types';

/**
 * The faults at the edges against workers with the guarantee each one tests switched off: one
 * small flood, every fault once, and for each the invariant that guards it must fail, naming
 * what went wrong. (A publisher restart that keeps its session is shown in checker.int.ts: the
 * flood's own publisher never does that.)
 *   id-reuse         no-fingerprint: a reused id is acked as a duplicate        → id-reuse
 *   forged-webhooks  trust-webhooks: the gateway publishes unsigned webhooks    → forged-webhooks
 *   big-headers      untrimmed-dead-letters: the copy cannot be published, the
 *                    broker's delivery limit dead-letters it instead            → dead-letters
 *   leader-stop      LEASE_TTL_MS longer than the pause: nobody takes the lead  → relay-failover
 *   unroutable       SEQUENCE_GAP_WAIT_MS=0: a message sent again after coming
 *                    back unroutable is applied behind its key's later ones     → per-key-order
 */
describe('flood checker against the edges sabotaged', () => {
  let report: FloodReport;
  beforeAll(async () => {
    ({ report } = await runFlood({
      ...defaultOptions(),
      seed: '19',
      commands: 2500,
      // Long enough for every fault to fire while commands flow (they fire one at a time).
      rate: 100,
      faults: parseFaults('id-reuse=1,forged-webhooks=1,big-headers=1,leader-stop=1,unroutable=2'),
      // Most traffic on one key: the unroutable fault takes the partition of a recent command.
      hotKeys: 1,
      hotShare: 0.9,
      quiet: true,
      instances: { inventory: 2, orders: 2, payments: 2 },
      quiesceTimeoutMs: 30_000,
      drainMaxMs: 180_000,
      workerEnv: {
        STOCKFLOW_ALLOW_SABOTAGE: 'i-know-this-breaks-things',
        STOCKFLOW_SABOTAGE: 'no-fingerprint,trust-webhooks,untrimmed-dead-letters',
        LEASE_TTL_MS: '60000',
        SEQUENCE_GAP_WAIT_MS: '0',
      },
    }));
    writeFileSync(join(TEST_LOG_DIR, `flood-edge-sabotage-${report.tag}.json`), JSON.stringify(report, null, 2));
  }, 420_000);

  const invariant = (name: string) => report.invariants.find((i) => i.name === name)!;

  it('every edge fault fired', () => {
    expect(report.faults).toMatchObject({ 'id-reuse': 1, 'forged-webhooks': 1, 'big-headers': 1, 'leader-stop': 1, unroutable: 2 });
    expect(report.ok).toBe(false);
  });

  it('id-reuse: reused ids acked as duplicates', () => {
    expect(invariant('id-reuse')).toMatchObject({ ok: false, examples: expect.arrayContaining([expect.stringMatching(/not dead-lettered as id_reused/)]) });
  });

  it('forged-webhooks: forgeries accepted by a gateway that trusts them', () => {
    expect(invariant('forged-webhooks')).toMatchObject({ ok: false, examples: [expect.stringMatching(/forged webhooks accepted/)] });
  });

  it('dead-letters: malformed messages dead-lettered by the delivery limit, not with their reason', () => {
    expect(invariant('dead-letters')).toMatchObject({ ok: false, examples: expect.arrayContaining([expect.stringMatching(/expected in a dead queue as invalid_schema, found delivery-limit/)]) });
  });

  it('relay-failover: a paused leader whose lease outlives the pause', () => {
    expect(invariant('relay-failover')).toMatchObject({ ok: false, examples: [expect.stringMatching(/nobody else took the lead while it was stopped/)] });
  });

  it('per-key-order: a message sent again after it came back unroutable, applied behind later ones', () => {
    expect(invariant('per-key-order')).toMatchObject({ ok: false, examples: expect.arrayContaining([expect.stringMatching(/took effect after/)]) });
  });
});
