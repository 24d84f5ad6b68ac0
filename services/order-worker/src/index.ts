export * from './config';
export * from './db/entities';
export * from './main';
export * from './unit-of-work';
