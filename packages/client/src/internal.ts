/**
 * What stockflow's own workers and tools share with the client beyond its public API: the
 * connection, the confirm channel and the helpers they are built on. No stability promise.
 */
export * from './index';
export { AmqpConnection, type AmqpConnectionEvents, type AmqpConnectionOptions, type BrokerConnect, type Setup } from './amqp/connection';
export { redactBrokerUrls, redactUrl, redactUrlsIn } from './amqp/broker-urls';
export { ConfirmPublisher, replaceChannelAfter, type PublishProperties } from './amqp/confirm-publisher';
export { coalesceFrameWrites } from './amqp/coalesce-writes';
export { childMessageId, messageFingerprint, newSequenceSession } from './contracts';
export { applyPartitionKeyRule } from './contracts/partition-key-rules';
export { injectTraceContext } from './tracing';
export { backoffDelay } from './util/backoff';
export { sameFingerprint } from './wire/codec';
export { gatewayOutcomesQueue } from './wire/routes';
export { fmix32, fnv1a32 } from './wire/partitioner';
export { closeWithin, settledWithin, sleep } from './util/time';
