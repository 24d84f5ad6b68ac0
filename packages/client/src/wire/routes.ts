import { contracts, type Contract, type MessageType, type WorkerKind } from '../contracts';
import { partitionLabel, partitionOf } from './partitioner';

/**
 * The names of stockflow's exchanges and queues in a namespace, and where a publisher sends
 * each message: the same functions the workers declare their topology with.
 */
export interface RouteOptions {
  namespace: string;
  partitions: number;
}

export interface Route {
  exchange: string;
  routingKey: string;
  partition: number;
}

export function commandExchange(ns: string, worker: WorkerKind): string {
  return `${ns}.commands.${worker}`;
}
export function eventsExchange(ns: string): string {
  return `${ns}.events`;
}
/** The HTTP gateway's queue of outcome events and dead letters (services/gateway). */
export function gatewayOutcomesQueue(ns: string): string {
  return `${ns}.gateway.outcomes`;
}
export function deadLetterExchange(ns: string): string {
  return `${ns}.dlx`;
}
export function partitionQueue(ns: string, worker: WorkerKind, partition: number, partitions: number): string {
  return `${ns}.${worker}.p${partitionLabel(partition, partitions)}`;
}
export function deadQueue(queue: string): string {
  return `${queue}.dead`;
}

/** Where a message of this type with this partition key is published. */
export function routeOf(opts: RouteOptions, type: MessageType, partitionKey: string): Route {
  const contract: Contract = contracts[type];
  const partition = partitionOf(partitionKey, opts.partitions);
  const label = partitionLabel(partition, opts.partitions);
  if (contract.kind === 'command') {
    return { exchange: commandExchange(opts.namespace, contract.worker), routingKey: label, partition };
  }
  return { exchange: eventsExchange(opts.namespace), routingKey: `${type}.${label}`, partition };
}

/**
 * Commands and events somebody consumes are published `mandatory`: unroutable means the
 * topology is missing and the publish must fail. Events nobody consumes (StockReceived) may
 * be unroutable; that is pub/sub, not loss.
 */
export function isMandatory(type: MessageType): boolean {
  const contract: Contract = contracts[type];
  return contract.kind === 'command' || contract.consumers.length > 0;
}

