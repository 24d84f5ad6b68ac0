/** Tiny SVG chart builders for the HTML report: no library, no network, just markup. */

export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export interface Series {
  name: string;
  color: string;
  /** [x, y] with x in seconds from the start. */
  points: [number, number][];
}

export interface Marker {
  x: number;
  label: string;
  color: string;
}

const W = 900;
const H = 260;
const M = { left: 60, right: 20, top: 20, bottom: 40 };

function niceMax(v: number): number {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function axes(xMax: number, yMax: number, xLabel: string, yLabel: string): string {
  const out: string[] = [];
  const iw = W - M.left - M.right;
  const ih = H - M.top - M.bottom;
  for (let k = 0; k <= 4; k++) {
    const y = M.top + ih - (ih * k) / 4;
    out.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${y}" y2="${y}" stroke="#eee"/>`);
    out.push(`<text x="${M.left - 6}" y="${y + 4}" text-anchor="end" font-size="11">${esc(String(Math.round((yMax * k) / 4)))}</text>`);
  }
  for (let k = 0; k <= 6; k++) {
    const x = M.left + (iw * k) / 6;
    out.push(`<text x="${x}" y="${H - M.bottom + 16}" text-anchor="middle" font-size="11">${esc(String(Math.round((xMax * k) / 6)))}</text>`);
  }
  out.push(`<line x1="${M.left}" x2="${M.left}" y1="${M.top}" y2="${H - M.bottom}" stroke="#999"/>`);
  out.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${H - M.bottom}" y2="${H - M.bottom}" stroke="#999"/>`);
  out.push(`<text x="${M.left + iw / 2}" y="${H - 6}" text-anchor="middle" font-size="12">${esc(xLabel)}</text>`);
  out.push(`<text x="14" y="${M.top + ih / 2}" text-anchor="middle" font-size="12" transform="rotate(-90 14 ${M.top + ih / 2})">${esc(yLabel)}</text>`);
  return out.join('');
}

export function lineChart(opts: { title: string; series: Series[]; markers: Marker[]; xLabel: string; yLabel: string }): string {
  const xMax = niceMax(Math.max(1, ...opts.series.flatMap((s) => s.points.map((p) => p[0])), ...opts.markers.map((m) => m.x)));
  const yMax = niceMax(Math.max(1, ...opts.series.flatMap((s) => s.points.map((p) => p[1]))));
  const iw = W - M.left - M.right;
  const ih = H - M.top - M.bottom;
  const sx = (x: number) => M.left + (x / xMax) * iw;
  const sy = (y: number) => M.top + ih - (y / yMax) * ih;
  const parts = [axes(xMax, yMax, opts.xLabel, opts.yLabel)];
  for (const m of opts.markers) {
    parts.push(`<line x1="${sx(m.x).toFixed(1)}" x2="${sx(m.x).toFixed(1)}" y1="${M.top}" y2="${H - M.bottom}" stroke="${m.color}" stroke-dasharray="3,3"><title>${esc(m.label)}</title></line>`);
  }
  for (const s of opts.series) {
    if (s.points.length === 0) continue;
    const d = s.points.map((p, i) => `${i === 0 ? 'M' : 'L'}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join('');
    parts.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.5"/>`);
  }
  const legend = [...opts.series.map((s) => ({ name: s.name, color: s.color })), ...[...new Map(opts.markers.map((m) => [m.color, m.label.split(':')[0]!])).entries()].map(([color, name]) => ({ name: `fault ${name}`, color }))];
  legend.forEach((l, i) => {
    const x = M.left + 10 + (i % 5) * 170;
    const y = M.top + 12 + Math.floor(i / 5) * 14;
    parts.push(`<rect x="${x}" y="${y - 8}" width="10" height="10" fill="${l.color}"/><text x="${x + 14}" y="${y + 1}" font-size="11">${esc(l.name)}</text>`);
  });
  return `<figure><figcaption>${esc(opts.title)}</figcaption><svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="100%">${parts.join('')}</svg></figure>`;
}

export function barChart(opts: { title: string; bars: { label: string; value: number }[]; xLabel: string; yLabel: string }): string {
  const yMax = niceMax(Math.max(1, ...opts.bars.map((b) => b.value)));
  const iw = W - M.left - M.right;
  const ih = H - M.top - M.bottom;
  const bw = iw / Math.max(1, opts.bars.length);
  const parts: string[] = [];
  for (let k = 0; k <= 4; k++) {
    const y = M.top + ih - (ih * k) / 4;
    parts.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${y}" y2="${y}" stroke="#eee"/><text x="${M.left - 6}" y="${y + 4}" text-anchor="end" font-size="11">${Math.round((yMax * k) / 4)}</text>`);
  }
  opts.bars.forEach((b, i) => {
    const h = (b.value / yMax) * ih;
    const x = M.left + i * bw;
    parts.push(`<rect x="${(x + 1).toFixed(1)}" y="${(M.top + ih - h).toFixed(1)}" width="${Math.max(1, bw - 2).toFixed(1)}" height="${h.toFixed(1)}" fill="#4477aa"><title>${esc(`${b.label}: ${b.value}`)}</title></rect>`);
    parts.push(`<text x="${(x + bw / 2).toFixed(1)}" y="${H - M.bottom + 16}" text-anchor="middle" font-size="10">${esc(b.label)}</text>`);
  });
  parts.push(`<text x="${M.left + iw / 2}" y="${H - 6}" text-anchor="middle" font-size="12">${esc(opts.xLabel)}</text>`);
  parts.push(`<text x="14" y="${M.top + ih / 2}" text-anchor="middle" font-size="12" transform="rotate(-90 14 ${M.top + ih / 2})">${esc(opts.yLabel)}</text>`);
  return `<figure><figcaption>${esc(opts.title)}</figcaption><svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="100%">${parts.join('')}</svg></figure>`;
}
