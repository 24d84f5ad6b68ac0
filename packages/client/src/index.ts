/**
 * @stockflow/client: publish commands to a stockflow deployment, typed and checked the way its
 * workers check them, and read its events. The public API is this file; nothing else is.
 */
export { Publisher, type Prepared, type PublisherOptions, type SendOptions, type SendResult } from './publisher';
export {
  contracts,
  contractOf,
  examples,
  HEADER,
  Id,
  inputsOf,
  inventory,
  isMessageType,
  MESSAGE_ID_PATTERN,
  oldestVersion,
  newMessageId,
  orders,
  partitionKeyOf,
  partitionKeyRules,
  payments,
  Quantity,
  Reason,
  RowLevels,
  SEQUENCE_SESSION_PATTERN,
  StockLevels,
  StockLine,
  stockKey,
  WORKER_KINDS,
  type CommandContract,
  type CommandType,
  type Contract,
  type Contracts,
  type Envelope,
  type EventContract,
  type EventType,
  type MessageType,
  type Payload,
  type TypedEnvelope,
  type Upcaster,
  type WorkerKind,
} from './contracts';
export { decode, propertiesOf, type Decoded } from './wire/codec';
export { partitionLabel, partitionOf } from './wire/partitioner';
export { commandExchange, deadLetterExchange, deadQueue, eventsExchange, isMandatory, partitionQueue, routeOf, type Route, type RouteOptions } from './wire/routes';
export { parseBrokerUrls } from './amqp/broker-urls';
export { BrokerUrlError, ConnectError, PermanentMessageError, PublishError, StockflowError, TopologyMismatchError, ValidationError, type DeadLetterReason } from './errors';
export { silentLogger, type Logger } from './logger';
