import { commonSettings, integer, loadConfig, secret } from '@stockflow/shared';

/** `name:token` pairs, comma-separated; names show in logs and metrics, tokens nowhere. */
const TOKENS = /^[a-z][a-z0-9-]{0,30}:[A-Za-z0-9._~+/=-]{24,}(,[a-z][a-z0-9-]{0,30}:[A-Za-z0-9._~+/=-]{24,})*$/;

export const DEV_GATEWAY_TOKENS = 'dev:stockflow-dev-gateway-token-0000';

export const gatewaySettings = {
  environment: commonSettings.environment,
  databaseUrl: commonSettings.databaseUrl,
  amqpUrl: commonSettings.amqpUrl,
  namespace: commonSettings.namespace,
  partitions: commonSettings.partitions,
  quorumGroupSize: commonSettings.quorumGroupSize,
  maxMessageBytes: commonSettings.maxMessageBytes,
  instanceId: commonSettings.instanceId,
  logLevel: commonSettings.logLevel,
  httpPort: integer('HTTP_PORT', 8084, 'Port of the HTTP ingress and its /livez, /readyz, /metrics and /openapi.json (0 = any free port)', { min: 0, max: 65535 }),
  tokens: secret('GATEWAY_TOKENS', DEV_GATEWAY_TOKENS, 'Clients allowed to send commands over HTTP, as name:token pairs separated by commas; a request carries Authorization: Bearer <token>', TOKENS, 'name:token pairs (name: lower-case letters, digits, dashes; token: at least 24 characters of A-Z a-z 0-9 . _ ~ + / = -), comma-separated'),
  ratePerS: integer('GATEWAY_RATE_PER_S', 200, 'Requests per second each client may send (a token bucket of as many, refilled continuously); over it: 429 with Retry-After', { min: 1, max: 1_000_000 }),
  maxWaitS: integer('GATEWAY_MAX_WAIT_S', 30, 'Longest Prefer: wait=N a request may ask for', { min: 0, max: 300 }),
  sendTimeoutMs: integer('GATEWAY_SEND_TIMEOUT_MS', 5_000, 'How long a request waits for the broker to confirm its command before it answers 503', { min: 100, max: 120_000 }),
  retentionMs: commonSettings.inboxRetentionMs,
};

export type GatewayConfig = ReturnType<typeof loadGatewayConfig>;

export function loadGatewayConfig(env: NodeJS.ProcessEnv = process.env) {
  return loadConfig(gatewaySettings, env);
}

/** token → client name. */
export function clientsOf(tokens: string): Map<string, string> {
  return new Map(tokens.split(',').map((pair) => {
    const i = pair.indexOf(':');
    return [pair.slice(i + 1), pair.slice(0, i)] as const;
  }));
}
