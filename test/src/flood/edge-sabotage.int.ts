import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TEST_LOG_DIR } from '../support';
import { runFlood } from '@stockflow/testkit/flood/flood';
import { parseFaults } from '@stockflow/testkit/flood/faults/plan';
import { INVARIANTS } from '@stockflow/testkit/flood/checker/types';
import { defaultOptions } from '@stockflow/testkit/flood/options';
import { verdictLine } from '@stockflow/testkit/flood/report/html';
import type { FloodReport } from '@stockflow/testkit/flood/report/types';

/**
 * The faults at the edges against workers with the guarantee each one tests switched off: one
 * small flood, every fault once, and for each the invariant that guards it must fail, naming
 * what went wrong. (A publisher restart that keeps its session is shown in checker.int.ts: the
 * flood's own publisher never does that. What guards the unroutable fault is the publisher's,
 * not the workers': ordered-publisher.int.ts shows it.)
 *   id-reuse         no-fingerprint: a reused id is acked as a duplicate        → id-reuse
 *   forged-webhooks  trust-webhooks: the gateway publishes unsigned webhooks    → forged-webhooks
 *   big-headers      untrimmed-dead-letters: the copy cannot be published, the
 *                    broker's delivery limit dead-letters it instead            → dead-letters
 *   leader-stop      LEASE_TTL_MS longer than the pause: nobody takes its shards → relay-failover
 *   pause            ignore-pauses: the workers never read the operator's pauses → pause-held
 */
describe('flood checker against the edges sabotaged', () => {
  let report: FloodReport;
  beforeAll(async () => {
    ({ report } = await runFlood({
      ...defaultOptions(),
      seed: '19',
      commands: 6500,
      // Long enough for every fault to fire while commands flow (they fire one at a time, and
      // the sabotaged pause waits out its whole let-go time).
      rate: 100,
      faults: parseFaults('id-reuse=1,forged-webhooks=1,big-headers=1,leader-stop=1,pause=1'),
      quiet: true,
      instances: { inventory: 2, orders: 2, payments: 2 },
      quiesceTimeoutMs: 30_000,
      drainMaxMs: 180_000,
      workerEnv: {
        STOCKFLOW_ALLOW_SABOTAGE: 'i-know-this-breaks-things',
        STOCKFLOW_SABOTAGE: 'no-fingerprint,trust-webhooks,untrimmed-dead-letters,ignore-pauses',
        LEASE_TTL_MS: '60000',
      },
    }));
    writeFileSync(join(TEST_LOG_DIR, `flood-edge-sabotage-${report.tag}.json`), JSON.stringify(report, null, 2));
  }, 420_000);

  const invariant = (name: string) => report.invariants.find((i) => i.name === name)!;

  it('every edge fault fired', () => {
    expect(report.faults).toMatchObject({ 'id-reuse': 1, 'forged-webhooks': 1, 'big-headers': 1, 'leader-stop': 1, pause: 1 });
    expect(report.ok).toBe(false);
    // What a reader of the report sees first: which invariants broke, and how many held.
    const verdict = verdictLine(report);
    for (const name of ['id-reuse', 'dead-letters', 'forged-webhooks', 'relay-failover', 'pause-held']) expect(verdict).toMatch(new RegExp(`(^|; )${name} failed \\(\\d+ violations?\\)`));
    expect(verdict).toMatch(new RegExp(`\\. \\d+ of ${INVARIANTS.length} invariants held\\.$`));
  });

  it('id-reuse: reused ids acked as duplicates', () => {
    expect(invariant('id-reuse')).toMatchObject({ ok: false, examples: expect.arrayContaining([expect.stringMatching(/not dead-lettered as id_reused/)]) });
  });

  it('forged-webhooks: forgeries accepted by a gateway that trusts them', () => {
    // Published, the forged ones meet the consumer's own signature check: dead-lettered.
    expect(invariant('forged-webhooks')).toMatchObject({ ok: false, examples: expect.arrayContaining([expect.stringMatching(/forged webhooks accepted/), expect.stringMatching(/forged webhooks were published into the system and dead-lettered there \(.*bad_signature/)]) });
  });

  it('dead-letters: malformed messages dead-lettered by the delivery limit, not with their reason', () => {
    expect(invariant('dead-letters')).toMatchObject({ ok: false, examples: expect.arrayContaining([expect.stringMatching(/expected in a dead queue as invalid_schema, found delivery-limit/)]) });
  });

  it('relay-failover: a paused relay whose leases outlive the pause', () => {
    expect(invariant('relay-failover')).toMatchObject({ ok: false, examples: [expect.stringMatching(/its shards were not all taken over while it was stopped/)] });
  });

  it('pause-held: workers that never read the pauses go on consuming a paused partition', () => {
    expect(invariant('pause-held')).toMatchObject({ ok: false, examples: [expect.stringMatching(/still consumed when the wait ran out/)] });
  });
});
