export * from './common';
export * from './envelope';
export * from './registry';
export * as inventory from './inventory';
export * as orders from './orders';
export * as payments from './payments';
export { examples } from './examples';
export { partitionKeyRules } from './partition-key-rules';
