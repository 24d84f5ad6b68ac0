import * as amqp from 'amqplib';
import { parseBrokerUrls, redactUrl, redactUrlsIn } from '@stockflow/shared';

/**
 * AMQP_URL may list several nodes of a cluster (see parseBrokerUrls). The tools' one-off
 * connections (cleanup, measurements) use these instead of handing the list to amqplib,
 * which takes one URL.
 */

/**
 * The first address: what a measurement of one node connects to, and whose host the management
 * API and rabbitmqctl are looked for on (the vhost is the same on every node).
 */
export function firstBrokerUrl(amqpUrl: string): string {
  return parseBrokerUrls(amqpUrl)[0]!;
}

/**
 * A plain amqplib connection to the first address that accepts one, in list order: cleanup
 * must work while one node is down (a fault may have stopped it).
 */
export async function connectAnyBroker(amqpUrl: string, socketOptions: Record<string, unknown> = {}): Promise<amqp.ChannelModel> {
  const failures: string[] = [];
  for (const url of parseBrokerUrls(amqpUrl)) {
    try {
      return await amqp.connect(url, socketOptions);
    } catch (err) {
      failures.push(`${redactUrl(url)} (${redactUrlsIn((err as Error).message)})`);
    }
  }
  throw new BrokerUnreachableError(failures);
}

/** No address of the list accepted a connection; names each with its error, without passwords. */
export class BrokerUnreachableError extends Error {
  constructor(readonly failures: string[]) {
    super(`no broker address accepted a connection: ${failures.join('; ')}`);
    this.name = 'BrokerUnreachableError';
  }
}
