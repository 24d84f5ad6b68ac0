import { commonSettings, toolArgs, type Setting } from '@stockflow/shared';
import { inventorySettings } from '@stockflow/inventory-worker';
import { orderSettings } from '@stockflow/order-worker';
import { paymentSettings } from '@stockflow/payment-worker';

type Spec = Record<string, Setting<unknown>>;

function show(s: Setting<unknown>): string {
  if (s.defaultLabel) return s.defaultLabel;
  const v = s.default;
  if (Array.isArray(v)) return v.length === 0 ? '(empty)' : v.join(',');
  if (v === '') return '(empty)';
  return String(v);
}

function rows(spec: Spec, keys: string[]): string {
  return keys.map((k) => {
    const s = spec[k]!;
    return `| \`${s.env}\` | \`${show(s)}\` | ${s.doc.replace(/\|/g, '\\|')} |`;
  }).join('\n');
}

/** The service's own settings, and common ones it overrides (another default, e.g. HTTP_PORT). */
function own(spec: Spec): string[] {
  const common = commonSettings as Spec;
  return Object.keys(spec).filter((k) => spec[k] !== common[k]);
}

/**
 * The README's configuration section, generated from the settings the workers actually read
 * (`npm run docs:config` prints it; a test fails when the README holds another version).
 */
export function renderConfigTable(): string {
  const head = '| Variable | Default | Meaning |\n| --- | --- | --- |';
  const common = Object.keys(commonSettings).filter((k) => k !== 'httpPort');
  return [
    '#### Every worker',
    '',
    head,
    rows(commonSettings, common),
    '',
    '#### inventory-worker',
    '',
    head,
    rows(inventorySettings, own(inventorySettings)),
    '',
    '#### order-worker',
    '',
    head,
    rows(orderSettings, own(orderSettings)),
    '',
    '#### payment-worker',
    '',
    head,
    rows(paymentSettings, own(paymentSettings)),
  ].join('\n');
}

const USAGE = `npm run docs:config        the README's configuration table, from the settings the workers read`;

if (require.main === module) {
  toolArgs(process.argv.slice(2), [], USAGE);
  process.stdout.write(renderConfigTable() + '\n');
}
