import * as ctl from './rabbitmqctl';
import { firstBrokerUrl } from '../../support/broker-urls';

export interface QueueCounts {
  name: string;
  ready: number;
  unacked: number;
}

export interface BrokerConnection {
  /** What closing needs: the management API's connection name, or rabbitmqctl's pid. */
  id: string;
  /** The client-provided connection name (workers: stockflow:<service>:<instance>). */
  name: string;
}

/**
 * What the flood needs from the broker beyond AMQP: unacked counts (quiescence), the
 * connections that consume a namespace (conn and stop faults) and closing one. The
 * management HTTP API is preferred: cheap, and it works for a remote broker. rabbitmqctl is
 * the fallback; each call starts an Erlang VM (about a CPU-second on a small machine), so it
 * is never polled every second.
 */
export interface BrokerAdmin {
  readonly kind: 'management' | 'rabbitmqctl';
  /** How stale queue counts can be (the management API samples every 5 s). */
  readonly countsLagMs: number;
  queueCounts(prefix: string): Promise<QueueCounts[]>;
  namespaceConnections(namespace: string, opts?: { activeOnly?: boolean }): Promise<BrokerConnection[]>;
  closeConnection(id: string, reason: string): Promise<void>;
}

export class ManagementAdmin implements BrokerAdmin {
  readonly kind = 'management';
  readonly countsLagMs = 5500;
  private readonly bases: string[];
  /** The base that answered last: asked first next time. */
  private current = 0;
  private readonly auth: string;
  private readonly vhost: string;

  /**
   * Without managementUrls (MANAGEMENT_URL), the API on the host of AMQP_URL's first address.
   * Several (a cluster's nodes, any of which serves the whole cluster): each call goes to the
   * one that answered last and moves on to the next when it cannot be reached.
   */
  constructor(amqpUrl: string, managementUrls?: string | string[]) {
    const a = new URL(firstBrokerUrl(amqpUrl));
    const given = managementUrls === undefined ? [] : Array.isArray(managementUrls) ? managementUrls : [managementUrls];
    const urls = (given.length > 0 ? given : [`http://${a.hostname}:15672/`]).map((u) => new URL(u));
    const m = urls[0]!;
    const user = decodeURIComponent(m.username || a.username || 'guest');
    const pass = decodeURIComponent(m.password || a.password || 'guest');
    this.auth = 'Basic ' + Buffer.from(`${user}:${pass}`).toString('base64');
    this.bases = urls.map((u) => {
      u.username = '';
      u.password = '';
      return u.toString().replace(/\/$/, '');
    });
    const path = a.pathname.replace(/^\//, '');
    this.vhost = encodeURIComponent(path === '' ? '/' : decodeURIComponent(path));
  }

  private async call<T>(method: 'GET' | 'DELETE', path: string, headers: Record<string, string> = {}): Promise<T> {
    let unreachable: unknown;
    for (let i = 0; i < this.bases.length; i++) {
      const at = (this.current + i) % this.bases.length;
      let res: Response;
      try {
        res = await fetch(`${this.bases[at]}${path}`, { method, headers: { authorization: this.auth, ...headers }, signal: AbortSignal.timeout(10_000) });
      } catch (err) {
        unreachable = err;
        continue;
      }
      // A node that is shutting down answers 503 for a moment: the next one serves the cluster.
      if (res.status === 503 && i < this.bases.length - 1) continue;
      this.current = at;
      if (!res.ok && !(method === 'DELETE' && res.status === 404)) throw new Error(`management API ${method} ${path}: HTTP ${res.status}`);
      return (method === 'GET' ? await res.json() : undefined) as T;
    }
    throw new Error(`management API ${method} ${path}: no node answered (${(unreachable as Error | undefined)?.message ?? 'HTTP 503'})`);
  }

  async available(): Promise<boolean> {
    try {
      await this.call('GET', '/api/overview');
      return true;
    } catch {
      return false;
    }
  }

  async queueCounts(prefix: string): Promise<QueueCounts[]> {
    const rows = await this.call<{ name: string; messages_ready?: number; messages_unacknowledged?: number }[]>('GET', `/api/queues/${this.vhost}?columns=name,messages_ready,messages_unacknowledged`);
    return rows.filter((q) => q.name.startsWith(prefix)).map((q) => ({ name: q.name, ready: q.messages_ready ?? 0, unacked: q.messages_unacknowledged ?? 0 }));
  }

  /** The node that leads each queue whose name starts with `prefix` (a quorum queue's leader, a classic queue's home). */
  async queueLeaders(prefix: string): Promise<{ name: string; leader: string }[]> {
    const rows = await this.call<{ name: string; node?: string; leader?: string }[]>('GET', `/api/queues/${this.vhost}?columns=name,node,leader`);
    return rows.filter((q) => q.name.startsWith(prefix)).map((q) => ({ name: q.name, leader: q.leader ?? q.node ?? '' }));
  }

  /** The quorum queues whose name starts with `prefix` that have a member not online. */
  async queuesMissingMembers(prefix: string): Promise<string[]> {
    const rows = await this.call<{ name: string; type?: string; members?: string[]; online?: string[] }[]>('GET', `/api/queues/${this.vhost}?columns=name,type,members,online`);
    return rows.filter((q) => q.name.startsWith(prefix) && q.type === 'quorum' && (q.members ?? []).some((m) => !(q.online ?? []).includes(m))).map((q) => q.name);
  }

  async namespaceConnections(namespace: string, opts: { activeOnly?: boolean } = {}): Promise<BrokerConnection[]> {
    const [consumers, connections] = await Promise.all([
      this.call<{ queue: { name: string }; channel_details?: { connection_name?: string }; active?: boolean }[]>('GET', `/api/consumers/${this.vhost}`),
      this.call<{ name: string; user_provided_name?: string; client_properties?: { connection_name?: string } }[]>('GET', '/api/connections?columns=name,user_provided_name,client_properties'),
    ]);
    const wanted = new Set(
      consumers.filter((c) => c.queue.name.startsWith(`${namespace}.`) && (!opts.activeOnly || c.active !== false)).map((c) => c.channel_details?.connection_name ?? ''),
    );
    return connections.filter((c) => wanted.has(c.name)).map((c) => ({ id: c.name, name: c.user_provided_name ?? c.client_properties?.connection_name ?? c.name }));
  }

  async closeConnection(id: string, reason: string): Promise<void> {
    await this.call('DELETE', `/api/connections/${encodeURIComponent(id)}`, { 'x-reason': reason });
  }
}

export class CtlAdmin implements BrokerAdmin {
  readonly kind = 'rabbitmqctl';
  readonly countsLagMs = 0;

  queueCounts(prefix: string): Promise<QueueCounts[]> {
    return ctl.queueCounts(prefix);
  }

  async namespaceConnections(namespace: string, opts: { activeOnly?: boolean } = {}): Promise<BrokerConnection[]> {
    return (await ctl.namespaceConnections(namespace, opts)).map((c) => ({ id: c.pid, name: c.name }));
  }

  closeConnection(id: string, reason: string): Promise<void> {
    return ctl.closeConnection(id, reason);
  }
}

/** The management API (of `managementUrls`, a cluster's nodes, when given) when it answers, else rabbitmqctl for a local broker, else nothing. */
export async function brokerAdmin(amqpUrl: string, managementUrls?: string[]): Promise<BrokerAdmin | undefined> {
  const management = new ManagementAdmin(amqpUrl, managementUrls ?? process.env.RABBITMQ_MANAGEMENT_URL ?? process.env.MANAGEMENT_URL);
  if (await management.available()) return management;
  if (await ctl.rabbitmqctlAvailable(amqpUrl)) return new CtlAdmin();
  return undefined;
}
