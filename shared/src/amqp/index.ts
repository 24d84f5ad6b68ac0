export * from './partition-consumer';
export * from './topology';
