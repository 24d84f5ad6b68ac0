export * from './database';
export * from './errors';
export * from './inbox';
export * from './locks';
export * from './messaging-tables';
export * from './outbox';
export * from './outbox-relay';
