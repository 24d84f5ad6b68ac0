import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runFlood } from '@stockflow/testkit/flood/flood';
import { parseFaults } from '@stockflow/testkit/flood/faults/plan';
import { defaultOptions } from '@stockflow/testkit/flood/options';
import { TEST_LOG_DIR } from '../support';

/**
 * A flood that sends the commands of 30 % of its keys through the HTTP gateway (`--via
 * http=0.3`), duplicates included, beside the rest over AMQP, with a worker killed and a
 * connection dropped: every invariant holds for both doors (exactly-once through Idempotency-Key,
 * nothing lost, per-key order in the gateway's numbering).
 */
describe('flood through both doors', () => {
  it('3000 commands, 30 % of the keys over HTTP: every invariant holds', async () => {
    const lines: string[] = [];
    const { report } = await runFlood(
      { ...defaultOptions(), seed: '31', commands: 3000, rate: 300, duplicates: 0.3, viaHttp: 0.3, faults: parseFaults('kill=1,conn=1'), quiet: true, quiesceTimeoutMs: 60_000, drainMaxMs: 180_000 },
      { say: (line) => lines.push(line) },
    );
    writeFileSync(join(TEST_LOG_DIR, `flood-via-http-${report.tag}.json`), JSON.stringify(report, null, 2));
    expect({ quiescence: report.quiescence.reached, failed: report.invariants.filter((i) => !i.ok) }).toEqual({ quiescence: true, failed: [] });
    const through = Number(/\((\d+) through the gateway\)/.exec(lines.join('\n'))?.[1] ?? 0);
    // About 30 % of the keys, so hundreds of the 4000-odd publishes, duplicates included.
    expect(through).toBeGreaterThan(500);
    expect(report.duplicatesAbsorbed).toBe(report.duplicates);
    expect(report.ok).toBe(true);
  }, 300_000);
});
