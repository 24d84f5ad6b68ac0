export * from '@stockflow/client/internal';
export * from './amqp';
export * from './config';
export * from './db';
export * from './errors';
export * from './http/metrics';
export * from './http/server';
// Explicit, so it is pino's Logger that shared exports, not the client's minimal one.
export { createLogger, messageLogger, type Logger, type MessageLogFields } from './logger';
export * from './redis';
export * from './worker';
export * from './util/resend-backoff';
export * from './retry/policy';
export * from './tracing';
export { payloadJsonSchema } from './contracts/field-table';
export * from './util/tool-args';
export { close as closeHttpServer, listen as listenHttp } from './http/listen';
