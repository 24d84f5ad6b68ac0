export * from './codec';
export * from './coalesce-writes';
export * from './confirm-publisher';
export * from './connection';
export * from './partition-consumer';
export * from './partitioner';
export * from './publisher';
export * from './topology';
