import { ProgressBar, renderBar } from './progress-bar';

function stream(isTTY: boolean) {
  const writes: string[] = [];
  return { writes, out: { isTTY, columns: 60, write: (t: string) => writes.push(t) } };
}

describe('progress bar', () => {
  it('shows the share done, the percentage and an ETA from the pace so far', () => {
    expect(renderBar(0.25, 30_000, 'published 250/1,000', 200)).toBe('[######------------------]  25 % ETA 1m30s  published 250/1,000');
    expect(renderBar(0.5, 7_200_000, '', 200)).toMatch(/ 50 % ETA 2h00m/);
    expect(renderBar(0.001, 1000, 'x', 200).endsWith('   0 % ETA ?  x')).toBe(true);
    expect(renderBar(1, 1000, 'x', 200)).toMatch(/^\[#{24}\] 100 % done/);
    expect(renderBar(Number.NaN, 1000, 'x', 200).startsWith(`[${'-'.repeat(24)}]   0 %`)).toBe(true);
  });

  it('is cut to the terminal width', () => {
    const line = renderBar(0.5, 1000, 'a very long detail '.repeat(10), 50);
    expect(line).toHaveLength(50);
    expect(line.endsWith('…')).toBe(true);
  });

  it('on a terminal: redrawn in place, log lines above it, removed at the end', () => {
    const { writes, out } = stream(true);
    const bar = new ProgressBar(out);
    expect(bar.live).toBe(true);
    bar.update(0.5, 'half');
    bar.line('a fault fired');
    bar.stop();
    bar.line('after');
    const clear = '\r\x1b[2K';
    const half = `[${'#'.repeat(12)}${'-'.repeat(12)}]  50 %`;
    expect(writes[0]!.startsWith(clear + half) && writes[0]!.endsWith('half')).toBe(true);
    expect(writes[1]!.startsWith(`${clear}a fault fired\n${half}`)).toBe(true);
    expect(writes.slice(2)).toEqual(['\r\x1b[2K', 'after\n']);
  });

  it('takes 80 columns where the terminal reports none', () => {
    const writes: string[] = [];
    const bar = new ProgressBar({ isTTY: true, columns: 0, write: (t: string) => writes.push(t) });
    bar.update(0.5, 'x'.repeat(200));
    expect(writes[0]!.length).toBe('\r\x1b[2K'.length + 80);
  });

  it('elsewhere (CI, a pipe): no bar, plain lines', () => {
    const { writes, out } = stream(false);
    const bar = new ProgressBar(out);
    bar.update(0.5, 'half');
    bar.line('a fault fired');
    bar.stop();
    expect(writes).toEqual(['a fault fired\n']);
  });
});
