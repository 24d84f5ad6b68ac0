import { randomBytes } from 'node:crypto';
import { Gateway, loadGatewayConfig } from '@stockflow/gateway';
import type { Logger, QuorumGroupSize } from '@stockflow/shared';
import type { Teardown } from './teardown';

/**
 * An HTTP gateway in this process for a run's own namespace (the flood's --via http, the
 * bench's HTTP door), with a token of its own and no rate limit; stopped by the teardown.
 */
export async function startInProcessGateway(
  run: { databaseUrl: string; amqpUrl: string; namespace: string; partitions: number; quorumGroupSize?: QuorumGroupSize | undefined; log: Logger },
  teardown: Teardown,
): Promise<{ url: string; token: string }> {
  const token = randomBytes(24).toString('hex');
  const gateway = await teardown.create(
    'gateway',
    async () => {
      const g = new Gateway(
        loadGatewayConfig({ DATABASE_URL: run.databaseUrl, AMQP_URL: run.amqpUrl, STOCKFLOW_NAMESPACE: run.namespace, PARTITIONS: String(run.partitions), HTTP_PORT: '0', GATEWAY_TOKENS: `run:${token}`, GATEWAY_RATE_PER_S: '1000000', INSTANCE_ID: `${run.namespace}-gateway`, LOG_LEVEL: 'warn', ...(run.quorumGroupSize ? { QUORUM_GROUP_SIZE: String(run.quorumGroupSize) } : {}) }),
        { log: run.log },
      );
      await g.start();
      return g;
    },
    (g) => g.stop(),
  );
  return { url: `http://127.0.0.1:${gateway.httpPort}`, token };
}
