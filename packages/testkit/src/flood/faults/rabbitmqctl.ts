import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { firstBrokerUrl } from '../../support/broker-urls';

const run = promisify(execFile);

/**
 * The broker's operator tool, for what AMQP cannot do: close other clients' connections,
 * count unacked messages, restart the app. Only usable against the local broker; every
 * helper is bounded by a timeout and returns plain data.
 */
async function ctl(args: string[], timeoutMs = 60_000): Promise<string> {
  const { stdout } = await run('rabbitmqctl', [...args, '-q'], { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}

function rows(stdout: string): string[][] {
  return stdout
    .split('\n')
    .filter((l) => l.trim().length > 0)
    .map((l) => l.split('\t'));
}

export async function rabbitmqctlAvailable(amqpUrl: string): Promise<boolean> {
  const host = new URL(firstBrokerUrl(amqpUrl)).hostname;
  if (!['127.0.0.1', 'localhost', '::1', '[::1]'].includes(host)) return false;
  try {
    // ping only needs the node: the app itself may be mid-restart (someone's broker fault).
    await ctl(['ping'], 30_000);
    return true;
  } catch {
    return false;
  }
}

export interface QueueCounts {
  name: string;
  ready: number;
  unacked: number;
}

/** Ready and unacked counts of every queue whose name starts with `prefix`. */
export async function queueCounts(prefix: string): Promise<QueueCounts[]> {
  const out = await ctl(['list_queues', 'name', 'messages_ready', 'messages_unacknowledged', '--no-table-headers']);
  return rows(out)
    .filter((r) => r[0]!.startsWith(prefix))
    .map((r) => ({ name: r[0]!, ready: Number(r[1]) || 0, unacked: Number(r[2]) || 0 }));
}

export interface BrokerConnection {
  pid: string;
  name: string;
}

/**
 * Connections that consume from this namespace's queues (worker connections, found through
 * their consumers), so a fault never touches another deployment or test sharing the broker.
 */
export async function namespaceConnections(namespace: string, opts: { activeOnly?: boolean } = {}): Promise<BrokerConnection[]> {
  const consumers = rows(await ctl(['list_consumers', 'queue_name', 'channel_pid', 'active', '--no-table-headers']));
  // With single active consumer, only one consumer per queue is active; the rest wait.
  const channels = new Set(consumers.filter((r) => r[0]!.startsWith(`${namespace}.`) && (!opts.activeOnly || r[2] === 'true')).map((r) => r[1]!));
  const channelConn = new Map(rows(await ctl(['list_channels', 'pid', 'connection', '--no-table-headers'])).map((r) => [r[0]!, r[1]!]));
  const wanted = new Set([...channels].map((c) => channelConn.get(c)).filter((c): c is string => c !== undefined));
  return rows(await ctl(['list_connections', 'pid', 'client_properties', '--no-table-headers']))
    .filter((r) => wanted.has(r[0]!))
    .map((r) => ({ pid: r[0]!, name: /\{"connection_name","([^"]*)"\}/.exec(r[1] ?? '')?.[1] ?? '' }));
}

export async function closeConnection(pid: string, reason: string): Promise<void> {
  await ctl(['close_connection', pid, reason]);
}

/** stop_app, a pause, start_app, then waits until the broker answers again. */
export async function restartBrokerApp(downMs: number): Promise<void> {
  await ctl(['stop_app'], 120_000);
  await new Promise((r) => setTimeout(r, downMs));
  await ctl(['start_app'], 120_000);
  await ctl(['await_startup'], 120_000);
}

/** Best effort start_app (heal after an interrupted restart). */
export async function ensureBrokerRunning(): Promise<void> {
  await ctl(['start_app'], 120_000).catch(() => undefined);
}
