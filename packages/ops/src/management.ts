import { parseBrokerUrls } from '@stockflow/shared';
/**
 * The RabbitMQ management HTTP API (port 15672, enabled by scripts/bootstrap.sh): the only
 * place with unacked counts, redelivery totals and who the active consumer of a queue is.
 * Its numbers are sampled (collect_statistics_interval, 5 s by default), so they lag a little.
 */
export interface QueueStats {
  name: string;
  messages: number;
  ready: number;
  unacked: number;
  consumers: number;
  redelivered: number;
}

export interface ConsumerInfo {
  queue: string;
  connectionName: string;
  active: boolean;
}

/** The first address of AMQP_URL (the vhost is the same on every node of a cluster). */
function firstBrokerUrl(amqpUrl: string): string {
  return parseBrokerUrls(amqpUrl)[0]!;
}

export class ServiceUnreachableError extends Error {
  constructor(
    readonly service: string,
    readonly where: string,
    cause: unknown,
  ) {
    super(`${service} unreachable at ${where}: ${cause instanceof Error ? (cause.cause instanceof Error ? cause.cause.message : cause.message) : String(cause)}`);
  }
}

/**
 * http://<amqp host>:15672 with the AMQP credentials, unless MANAGEMENT_URL says otherwise. Of
 * a list of broker addresses (a cluster), the first one's: every node of a cluster serves the
 * same management API, so only a first node that is down needs MANAGEMENT_URL.
 */
export function managementUrlOf(amqpUrl: string, explicit?: string): string {
  if (explicit) return explicit;
  const a = new URL(firstBrokerUrl(amqpUrl));
  const m = new URL(`http://${a.hostname}:15672/`);
  m.username = a.username || 'guest';
  m.password = a.password || 'guest';
  return m.toString();
}

export class ManagementApi {
  private readonly base: string;
  private readonly auth: string;
  private readonly vhost: string;

  constructor(url: string, amqpUrl: string) {
    const u = new URL(url);
    this.auth = 'Basic ' + Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`).toString('base64');
    u.username = '';
    u.password = '';
    this.base = u.toString().replace(/\/$/, '');
    const path = new URL(firstBrokerUrl(amqpUrl)).pathname.replace(/^\//, '');
    this.vhost = encodeURIComponent(path === '' ? '/' : decodeURIComponent(path));
  }

  /** Where it talks to (without credentials), for error messages. */
  get where(): string {
    return this.base;
  }

  private async get<T>(path: string): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.base}${path}`, { headers: { authorization: this.auth }, signal: AbortSignal.timeout(5000) });
    } catch (err) {
      throw new ServiceUnreachableError('RabbitMQ management API', this.base, err);
    }
    if (!res.ok) throw new ServiceUnreachableError('RabbitMQ management API', this.base, new Error(`HTTP ${res.status} for ${path}`));
    return (await res.json()) as T;
  }

  /** Every queue whose name starts with `prefix`. */
  async queues(prefix: string): Promise<QueueStats[]> {
    const columns = 'name,messages,messages_ready,messages_unacknowledged,consumers,message_stats.redeliver';
    const rows = await this.get<{ name: string; messages?: number; messages_ready?: number; messages_unacknowledged?: number; consumers?: number; message_stats?: { redeliver?: number } }[]>(
      `/api/queues/${this.vhost}?columns=${columns}`,
    );
    return rows
      .filter((q) => q.name.startsWith(prefix))
      .map((q) => ({
        name: q.name,
        messages: q.messages ?? 0,
        ready: q.messages_ready ?? 0,
        unacked: q.messages_unacknowledged ?? 0,
        consumers: q.consumers ?? 0,
        redelivered: q.message_stats?.redeliver ?? 0,
      }));
  }

  /** Names of the exchanges starting with `prefix`. */
  async exchanges(prefix: string): Promise<string[]> {
    const rows = await this.get<{ name: string }[]>(`/api/exchanges/${this.vhost}?columns=name`);
    return rows.map((e) => e.name).filter((name) => name.startsWith(prefix));
  }

  /** Consumers of queues starting with `prefix`, named by their client's connection name. */
  async consumers(prefix: string): Promise<ConsumerInfo[]> {
    const [rows, conns] = await Promise.all([
      this.get<{ queue: { name: string }; channel_details?: { connection_name?: string }; active?: boolean }[]>(`/api/consumers/${this.vhost}`),
      this.get<{ name: string; user_provided_name?: string; client_properties?: { connection_name?: string } }[]>(`/api/connections?columns=name,user_provided_name,client_properties`),
    ]);
    // Consumers only know the broker's name of their connection ("ip:port -> ip:port").
    const named = new Map(conns.map((c) => [c.name, c.user_provided_name ?? c.client_properties?.connection_name ?? c.name]));
    return rows
      .filter((c) => c.queue.name.startsWith(prefix))
      .map((c) => {
        const conn = c.channel_details?.connection_name ?? '';
        return { queue: c.queue.name, connectionName: named.get(conn) ?? conn, active: c.active !== false };
      });
  }
}
