export * from './event-tap';
export * from './services';
export * from './test-env';
export * from './workers';
export * from './chaos';
export * from './socket-writes';
