import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '../../..');
/** Closed ports: a CLI that started work despite the flags would fail to connect, not pass. */
const NOWHERE = { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/nowhere', AMQP_URL: 'amqp://guest:guest@127.0.0.1:1', REDIS_URL: 'redis://127.0.0.1:1', MANAGEMENT_URL: 'http://127.0.0.1:1/' };

interface Manifest {
  workspaces?: string[];
  bin?: Record<string, string>;
  scripts?: Record<string, string>;
}

const read = (dir: string) => JSON.parse(readFileSync(join(ROOT, dir, 'package.json'), 'utf8')) as Manifest;

/**
 * Every command a user types: each workspace package's bins, and each `node <file>` the root
 * package.json's scripts run (except `start`, the supervisor of the running system, which
 * takes no arguments). Needs `npx tsc -b` (npm test builds first).
 */
function commands(): { name: string; file: string }[] {
  const root = read('.');
  const out = new Map<string, string>();
  for (const ws of root.workspaces ?? []) for (const [name, file] of Object.entries(read(ws).bin ?? {})) out.set(join(ws, file), name);
  for (const [name, script] of Object.entries(root.scripts ?? {})) {
    if (name === 'start') continue;
    for (const m of script.matchAll(/\bnode (\S+\.js)\b/g)) if (!out.has(m[1]!)) out.set(m[1]!, `npm run ${name}`);
  }
  return [...out].map(([file, name]) => ({ name, file }));
}

describe('every CLI', () => {
  const all = commands();

  it('is found where its package says', () => {
    expect(all.map((c) => c.name)).toEqual(expect.arrayContaining(['stockflow-ops', 'stockflow-flood', 'stockflow-bench', 'stockflow-provider-simulator', 'npm run send', 'npm run stock', 'npm run docs:config', 'npm run docs:messages', 'npm run docs:asyncapi']));
    for (const c of all) expect({ ...c, exists: existsSync(join(ROOT, c.file)) }).toEqual({ ...c, exists: true });
  });

  const run = (file: string, args: string[]) => spawnSync(process.execPath, [join(ROOT, file), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 30_000, env: { PATH: process.env.PATH, ...NOWHERE } });

  it.each(all.map((c) => [c.name, c.file]))('%s: --help prints usage and exits 0 without starting anything', (_name, file) => {
    const r = run(file, ['--help']);
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
    expect(r.stdout.trim().length).toBeGreaterThan(20);
  });

  it.each(all.map((c) => [c.name, c.file]))('%s: an unknown flag exits 2 naming it', (_name, file) => {
    const r = run(file, ['--bogus-flag']);
    expect({ status: r.status, named: r.stderr.includes('--bogus-flag') }).toEqual({ status: 2, named: true });
  });
});
