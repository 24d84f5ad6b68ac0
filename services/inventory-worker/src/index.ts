export * from './config';
export * from './db/entities';
export * from './main';
export * from './read-model';
export * from './unit-of-work';
export { ExpirySchedule } from './expiry/expiry-schedule';
