export { clientsOf, DEV_GATEWAY_TOKENS, gatewaySettings, loadGatewayConfig, type GatewayConfig } from './config';
export { Gateway, waitOf } from './gateway';
export { HTTP_COMMANDS } from './commands';
export { ALIASES, openApiDocument } from './openapi';
