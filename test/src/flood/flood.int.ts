import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TEST_LOG_DIR } from '../support';
import { runFlood } from '@stockflow/testkit/flood/flood';
import { parseFaults } from '@stockflow/testkit/flood/faults/plan';
import { defaultOptions, type FloodOptions } from '@stockflow/testkit/flood/options';
import { htmlReport } from '@stockflow/testkit/flood/report/html';
import { summaryText } from '@stockflow/testkit/flood/report/summary';

const COMMANDS = Number(process.env.FLOOD_COMMANDS ?? 20_000);

/**
 * The bounded flood `npm test` runs: 20k commands of every kind with 30 % exact duplicates
 * (half concurrent, half late), reordered across keys, two worker processes per kind, SIGKILLs
 * (half of them landing between a commit and its ack), broker-side connection drops and one of
 * each fault at the edges (a publisher restart, a paused relay leader, an unroutable partition,
 * forged webhooks, reused ids, oversized headers, an operator's pause), then quiescence and every invariant. Budget:
 * 5 minutes on the 2-core machine; the report and the worker logs of a failure stay in the test
 * log directory.
 */
const EDGE_FAULTS = ['publisher-restart', 'leader-stop', 'unroutable', 'forged-webhooks', 'id-reuse', 'big-headers', 'pause'] as const;

describe('bounded chaos flood', () => {
  it(`${COMMANDS} commands, 30 % duplicates, kills, connection drops and edge faults: every invariant holds`, async () => {
    // Progress goes to the log as it happens: a run cut off by the test timeout still tells
    // how far it got.
    mkdirSync(TEST_LOG_DIR, { recursive: true });
    const progressLog = join(TEST_LOG_DIR, `flood-progress-${process.pid}-${Date.now()}.txt`);
    const opts: FloodOptions = {
      ...defaultOptions(),
      seed: process.env.FLOOD_SEED ?? '5',
      commands: COMMANDS,
      // Faults fire one at a time while commands are published, and the edge faults take
      // seconds each (a storm, a five-second unbinding, a paused leader): unlimited, the
      // publishing would end before the last of them fired.
      rate: 350,
      duplicates: 0.3,
      faults: parseFaults(['kill=3', 'conn=3', ...EDGE_FAULTS.map((k) => `${k}=1`)].join(',')),
      quiet: true,
      quiesceTimeoutMs: 90_000,
      drainMaxMs: 300_000,
    };
    const { report, series } = await runFlood(opts, { say: (line) => appendFileSync(progressLog, `${new Date().toISOString()} ${line}\n`) });
    writeFileSync(join(TEST_LOG_DIR, `flood-${report.tag}.json`), JSON.stringify(report, null, 2));
    appendFileSync(progressLog, summaryText(report));

    expect({ quiescence: report.quiescence, failed: report.invariants.filter((i) => !i.ok) }).toEqual({ quiescence: expect.objectContaining({ reached: true }), failed: [] });
    expect(report.commands).toBe(COMMANDS);
    expect(report.duplicates).toBeGreaterThan(COMMANDS * 0.25);
    expect(report.duplicatesAbsorbed).toBe(report.duplicates);
    expect(report.faults).toMatchObject({ kill: 3, conn: 3, ...Object.fromEntries(EDGE_FAULTS.map((k) => [k, 1])) });
    expect(report.ok).toBe(true);
    // The HTML report opens with the verdict, then the invariant table, then the rest.
    const html = htmlReport(report, series);
    writeFileSync(join(TEST_LOG_DIR, `flood-${report.tag}.html`), html);
    expect(html).toContain(`<p class="verdict ok">Every invariant held: ${report.invariants.length} of ${report.invariants.length} invariants held, over ${COMMANDS} commands`);
    const at = (needle: string) => html.indexOf(needle);
    expect([at('<h1>stockflow flood — PASSED</h1>'), at('class="verdict'), at('<h2>Invariants</h2>'), at('<h2>Run</h2>'), at('<svg'), at('<h2>Faults</h2>')].every((x, i, all) => x > 0 && (i === 0 || x > all[i - 1]!))).toBe(true);
    // 5 minutes is the budget on a quiet machine; the margin is for a CI machine under load.
  }, 480_000);
});
