import { nodesOf, loadSpec, startNode, status, stopNode, urlsOf, type ClusterSpec } from '../../cluster/local-cluster';
import { ManagementAdmin } from '../faults/broker-admin';
import type { ClusterNodes } from '../faults/node-actions';

const MEMBERS_POLL_MS = 500;

/** The cluster a flood was pointed at does not run with all its nodes. */
export class ClusterNotReadyError extends Error {}

/**
 * The local RabbitMQ cluster of `npm run cluster` that a flood runs on (--cluster DIR): its
 * addresses, its queue leaders through the management API of any running node, and its nodes
 * to stop and start. Remembers which nodes it stopped, so healing starts exactly those.
 */
export class LocalClusterControl implements ClusterNodes {
  readonly nodes: readonly { index: number; name: string }[];
  readonly amqpUrl: string;
  readonly managementUrls: string[];
  private readonly admin: ManagementAdmin;
  private readonly down = new Set<number>();

  private constructor(
    private readonly spec: ClusterSpec,
    private readonly log: (line: string) => void,
  ) {
    this.nodes = nodesOf(spec).map((n) => ({ index: n.index, name: n.name }));
    const urls = urlsOf(spec);
    this.amqpUrl = urls.amqp;
    this.managementUrls = urls.management;
    this.admin = new ManagementAdmin(urls.amqp, urls.management);
  }

  /** The cluster in `dir`, every node running (ClusterNotReadyError otherwise). */
  static async open(dir: string, log: (line: string) => void): Promise<LocalClusterControl> {
    const s = await status({ dir });
    if (!s.exists) throw new ClusterNotReadyError(`no cluster in ${dir}: make one with \`npm run cluster -- up\``);
    if (!s.healthy) throw new ClusterNotReadyError(`the cluster in ${dir} is not healthy (${s.nodes.filter((n) => n.running).length} of ${s.nodes.length} nodes running): \`npm run cluster -- status\``);
    return new LocalClusterControl(loadSpec(dir), log);
  }

  leaders(prefix: string): Promise<{ name: string; leader: string }[]> {
    return this.admin.queueLeaders(prefix);
  }

  async awaitMembersOnline(prefix: string, timeoutMs: number): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const missing = await this.admin.queuesMissingMembers(prefix).catch(() => undefined);
      if (missing?.length === 0 || Date.now() >= deadline) return missing ?? ['(the management API did not answer)'];
      await new Promise((r) => setTimeout(r, MEMBERS_POLL_MS));
    }
  }

  async stop(index: number, how: { kill: boolean }): Promise<void> {
    this.down.add(index);
    await stopNode({ dir: this.spec.dir, log: this.log }, index, how);
  }

  async start(index: number): Promise<void> {
    await startNode({ dir: this.spec.dir, log: this.log }, index);
    this.down.delete(index);
  }

  async restore(): Promise<void> {
    for (const index of [...this.down]) await this.start(index);
  }
}
