export * from './client';
export * from './dedup-filter';
