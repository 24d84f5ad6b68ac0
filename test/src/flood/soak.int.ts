import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TEST_LOG_DIR } from '../support';
import { runFlood } from '@stockflow/testkit/flood/flood';
import { parseOptions, type FloodOptions } from '@stockflow/testkit/flood/options';
import { htmlReport } from '@stockflow/testkit/flood/report/html';
import { summaryText } from '@stockflow/testkit/flood/report/summary';

/**
 * A soak in miniature through the real code path (options parsing included): 40 s of steady,
 * rate-limited read-heavy load with a kill and a Redis flush, sampled every second. The rate is
 * modest because the test shares two cores with the rest of the suite: the backlog rule fails a
 * run whose workers cannot keep up, and here that would say more about the machine than the code.
 * RSS is sampled but not judged this short (under two minutes V8 heap sizing looks like a leak);
 * the backlog verdict is judged.
 */
describe('soak smoke', () => {
  it('40 s read-heavy soak under kill and redis faults: samples, trends and invariants', async () => {
    const parsed = parseOptions([
      '--duration', '40s', '--rate', '30', '--profile', 'read-heavy', '--reads-per-sec', '40',
      '--faults', 'kill=1,redis=1', '--sample-ms', '1000', '--products', '10', '--warehouses', '2',
      '--instances', '1', '--seed', process.env.FLOOD_SEED ?? '11', '--quiet',
    ]);
    if (parsed === 'help') throw new Error('unexpected --help');
    const opts: FloodOptions = { ...parsed, quiesceTimeoutMs: 90_000, drainMaxMs: 150_000 };
    expect(opts.commands).toBe(0);

    const lines: string[] = [];
    const { report, series } = await runFlood(opts, { say: (line) => lines.push(`${new Date().toISOString()} ${line}`) });
    mkdirSync(TEST_LOG_DIR, { recursive: true });
    writeFileSync(join(TEST_LOG_DIR, `soak-${report.tag}.json`), JSON.stringify(report, null, 2));
    writeFileSync(join(TEST_LOG_DIR, `soak-${report.tag}.html`), htmlReport(report, series));
    writeFileSync(join(TEST_LOG_DIR, `soak-${report.tag}.txt`), [...lines, summaryText(report)].join('\n'));

    const soak = report.soak;
    const values = soak.samples.map((s) => s.values);
    expect(soak.samples.length).toBeGreaterThanOrEqual(20);
    expect(values.some((v) => v['rss.inventory']! > 20 && v['rss.orders']! > 20 && v['rss.payments']! > 20)).toBe(true);
    expect(values.some((v) => v.pgConnections! > 3)).toBe(true);
    expect(values.every((v) => v.lockWaits === undefined || v.lockWaits >= 0)).toBe(true);
    expect(values.some((v) => v.lockWaits !== undefined && v.locksUngranted !== undefined)).toBe(true);
    expect(soak.inbox.rows.inventory).toBeGreaterThan(100);
    expect(values.some((v) => v.lag !== undefined && v['depthMax.inventory'] !== undefined)).toBe(true);
    expect(soak.windows.some((w) => w.appliedPerSec > 0 && Number.isFinite(w.p99_ms))).toBe(true);
    expect(soak.reads!.count).toBeGreaterThan(100);
    expect(Number.isFinite(soak.reads!.p99_ms)).toBe(true);

    // The kill restarted one process: its two lives are separate RSS series.
    expect(report.faults).toMatchObject({ kill: 1, redis: 1 });
    expect(soak.trends.filter((t) => t.name.startsWith('rss ')).length).toBeGreaterThanOrEqual(4);
    expect(soak.judged).toBe(true);
    expect(soak.trends.find((t) => t.name === 'backlog')).toMatchObject({ judged: true, ok: true });
    expect(soak.ok).toBe(true);
    expect(summaryText(report)).toContain('soak trends: no leak');

    expect({ quiescence: report.quiescence.reached, failed: report.invariants.filter((i) => !i.ok) }).toEqual({ quiescence: true, failed: [] });
    expect(report.ok).toBe(true);
  }, 240_000);
});
