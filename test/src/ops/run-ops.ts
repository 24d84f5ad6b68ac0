import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { TestEnv } from '../support';
import { runOps } from '@stockflow/ops';

export interface OpsRun {
  code: number;
  out: string;
  err: string;
}

/** `npm run ops -- <args>` in-process, against a test env (overrides win). */
export async function ops(env: TestEnv, args: string[], overrides: Record<string, string | number> = {}): Promise<OpsRun> {
  let out = '';
  let err = '';
  const code = await runOps(args, env.env(overrides), { out: (t) => (out += t), err: (t) => (err += t) });
  return { code, out, err };
}

/** The same through the compiled CLI, as an operator runs it (needs `npx tsc -b`). */
export async function opsProcess(env: TestEnv, args: string[], overrides: Record<string, string> = {}): Promise<OpsRun> {
  const cli = join(__dirname, '../../../packages/ops/dist/main.js');
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [cli, ...args], { env: env.env(overrides), timeout: 60_000 });
    return { code: 0, out: stdout, err: stderr };
  } catch (e) {
    const x = e as { code?: number; stdout?: string; stderr?: string };
    return { code: x.code ?? -1, out: x.stdout ?? '', err: x.stderr ?? '' };
  }
}
