export * from './config';
export * from './main';
export * from './unit-of-work';
export * from './provider/provider-client';
export * from './provider/webhook-signature';
export { WEBHOOK_PATH } from './provider/webhook-gateway';
