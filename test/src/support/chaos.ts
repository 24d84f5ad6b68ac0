import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Client } from 'pg';

const run = promisify(execFile);

/**
 * Closes, on the broker side, every AMQP connection whose client-supplied name contains
 * `fragment` (what `rabbitmqctl close_connection` does for an operator). Needs rabbitmqctl
 * on this host, i.e. the local broker. Returns how many were closed.
 */
export async function closeBrokerConnections(fragment: string, reason = 'closed by stockflow chaos'): Promise<number> {
  // Tab-separated "<pid>\t[{\"connection_name\",\"…\"}, …]" lines; the JSON formatter's
  // "#PID<…>" form is not accepted back by close_connection.
  const { stdout } = await run('rabbitmqctl', ['list_connections', 'pid', 'client_properties', '-q', '--no-table-headers'], { timeout: 30_000 });
  const pids = stdout
    .split('\n')
    .filter((line) => {
      const m = /\{"connection_name","([^"]*)"\}/.exec(line);
      return m !== null && m[1]!.includes(fragment);
    })
    .map((line) => line.split('\t')[0]!);
  for (const pid of pids) await run('rabbitmqctl', ['close_connection', pid, reason, '-q'], { timeout: 30_000 });
  return pids.length;
}

/** pg_terminate_backend of every session whose application_name contains `fragment`. */
export async function terminatePgSessions(databaseUrl: string, fragment: string): Promise<number> {
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const res = await client.query<{ ok: boolean }>(
      `SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name LIKE '%' || $1 || '%' AND pid <> pg_backend_pid()`,
      [fragment],
    );
    return res.rows.filter((r) => r.ok).length;
  } finally {
    await client.end();
  }
}
