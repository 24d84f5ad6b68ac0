export * from './config';
export * from './main';
export * from './unit-of-work';
