export * from './ledger';
export * from './simulator';
export * from './types';
export * from './webhook-sender';
