export * from './client';
export * from './dedup-filter';
export * from './namespace-keys';
export * from './duplicate-watch';
