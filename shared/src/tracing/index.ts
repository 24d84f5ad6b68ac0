export * from './message-spans';
export * from './sdk';
