import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { startInventory, TestEnv, workerGet } from '../support';

const ROOT = join(__dirname, '../../..');
const ALERTS = join(ROOT, 'deploy/prometheus/stockflow-alerts.yml');
const DASHBOARD = join(ROOT, 'deploy/grafana/stockflow-dashboard.json');
const OPERATIONS = join(ROOT, 'docs/operations.md');

/** Labels on every series the workers export. */
const DEFAULT_LABELS = ['service', 'instance_id'];

/** Each metric's own labels as docs/operations.md lists them: | `stockflow_x_total{a,b}` | … */
function documentedLabels(): Map<string, string[]> {
  const rows = [...readFileSync(OPERATIONS, 'utf8').matchAll(/^\| `(stockflow_[a-z0-9_]+)(?:\{([a-z_,]+)\})?` \|/gm)];
  return new Map(rows.map((m) => [m[1]!, m[2] ? m[2].split(',') : []]));
}

/** The labels an expression may use: the defaults, and the documented ones of the metrics it reads. */
function allowedLabels(expr: string, documented: Map<string, string[]>): Set<string> {
  const base = (m: string) => m.replace(/_(bucket|sum|count)$/, '');
  return new Set([...DEFAULT_LABELS, ...metricsIn(expr).flatMap((m) => documented.get(m) ?? documented.get(base(m)) ?? [])]);
}

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels?: { severity?: string };
  annotations?: { summary?: string; description?: string };
}

/** Metric names in a PromQL expression (ours, and the conventional process and Node.js ones). */
function metricsIn(expr: string): string[] {
  return [...new Set(expr.match(/\b(?:stockflow|process|nodejs)_[a-z0-9_]+\b/g) ?? [])];
}

/** Label names a PromQL expression groups or filters by. */
function labelsIn(expr: string): string[] {
  const grouped = [...expr.matchAll(/\bby \(([^)]*)\)/g)].flatMap((m) => m[1]!.split(',').map((l) => l.trim()));
  const matched = [...expr.matchAll(/[{,]\s*([a-z_]+)\s*=~?/g)].map((m) => m[1]!);
  return [...new Set([...grouped, ...matched])].filter((l) => l && l !== 'le');
}

/**
 * The shipped alert rules and Grafana dashboard against a running worker's /metrics: every
 * metric they use exists (histograms by their _bucket, _sum and _count series), every label
 * they group by is one the workers set, and the names are the conventional ones an
 * off-the-shelf Node.js dashboard expects.
 */
describe('alert rules and dashboard', () => {
  let env: TestEnv;
  let exported: Set<string>;
  let scrape: string;
  const documented = documentedLabels();
  beforeAll(async () => {
    env = await TestEnv.create('observability');
    const worker = await startInventory(env, { HTTP_PORT: 0 });
    scrape = (await workerGet(worker, '/metrics')).body;
    const types = [...scrape.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1]!, m[2]!] as const);
    exported = new Set(types.flatMap(([name, type]) => (type === 'histogram' ? [name, `${name}_bucket`, `${name}_sum`, `${name}_count`] : type === 'summary' ? [name, `${name}_sum`, `${name}_count`] : [name])));
  });
  afterAll(async () => env?.cleanup());

  it('documents every stockflow metric the worker exports, and only those', () => {
    const ours = [...exported].filter((n) => n.startsWith('stockflow_') && !/_(bucket|sum|count)$/.test(n.replace(/_total$/, ''))).sort();
    expect([...documented.keys()].sort()).toEqual(ours);
  });

  it('exports conventional names and no label Prometheus would rename', () => {
    for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_p99_seconds', 'stockflow_batch_messages', 'stockflow_partitions']) expect(exported).toContain(name);
    expect([...exported].filter((n) => n.startsWith('stockflow_process_'))).toEqual([]);
    expect(scrape).not.toMatch(/[{,]instance="/);
    expect(scrape).toMatch(/stockflow_partitions\{service="inventory-worker",instance_id="inv-[a-z0-9]+"\} \d+/);
  });

  it('alert rules: well formed, and every metric and label they use exists', () => {
    const doc = parse(readFileSync(ALERTS, 'utf8')) as { groups: { name: string; rules: Rule[] }[] };
    const rules = doc.groups.flatMap((g) => g.rules);
    expect(rules.length).toBeGreaterThanOrEqual(15);
    expect(new Set(rules.map((r) => r.alert)).size).toBe(rules.length);
    for (const r of rules) {
      expect([r.alert, ['critical', 'warning', 'info'].includes(r.labels?.severity ?? '')]).toEqual([r.alert, true]);
      expect([r.alert, Boolean(r.annotations?.summary)]).toEqual([r.alert, true]);
      const metrics = metricsIn(r.expr);
      expect([r.alert, metrics.length > 0]).toEqual([r.alert, true]);
      for (const m of metrics) expect([r.alert, m, exported.has(m)]).toEqual([r.alert, m, true]);
      const allowed = allowedLabels(r.expr, documented);
      for (const l of labelsIn(r.expr)) expect([r.alert, l, allowed.has(l)]).toEqual([r.alert, l, true]);
    }
  });

  it('dashboard: every panel queries metrics and labels that exist', () => {
    const dash = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { uid: string; panels: { title: string; targets: { expr: string }[] }[]; templating: { list: { query: string }[] } };
    expect(dash.uid).toBe('stockflow-workers');
    expect(dash.panels.length).toBeGreaterThanOrEqual(12);
    const exprs = [...dash.panels.flatMap((p) => p.targets.map((t) => ({ title: p.title, expr: t.expr }))), ...dash.templating.list.map((v) => ({ title: 'variable', expr: v.query }))];
    for (const { title, expr } of exprs) {
      const metrics = metricsIn(expr);
      expect([title, metrics.length > 0]).toEqual([title, true]);
      for (const m of metrics) expect([title, m, exported.has(m)]).toEqual([title, m, true]);
      const allowed = allowedLabels(expr, documented);
      for (const l of labelsIn(expr)) expect([title, l, allowed.has(l)]).toEqual([title, l, true]);
    }
  });
});
