import { ConfigError } from '@stockflow/shared';
import { clientsOf, DEV_GATEWAY_TOKENS, loadGatewayConfig } from './config';

describe('gateway configuration', () => {
  it('has no tokens outside development, and never echoes one', () => {
    expect(() => loadGatewayConfig({})).toThrow(ConfigError);
    expect(() => loadGatewayConfig({ STOCKFLOW_ENV: 'production' })).toThrow(/GATEWAY_TOKENS/);
    let message = '';
    try {
      loadGatewayConfig({ GATEWAY_TOKENS: 'shop:short-secret-token' });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/GATEWAY_TOKENS/);
    expect(message).not.toContain('short-secret-token');
  });

  it('takes the public development token only with STOCKFLOW_ENV=development', () => {
    expect(loadGatewayConfig({ STOCKFLOW_ENV: 'development' }).tokens).toBe(DEV_GATEWAY_TOKENS);
  });

  it('reads name:token pairs', () => {
    const config = loadGatewayConfig({ GATEWAY_TOKENS: 'shop:aaaaaaaaaaaaaaaaaaaaaaaaaa,partner:bbbbbbbbbbbbbbbbbbbbbbbbbb' });
    expect([...clientsOf(config.tokens)]).toEqual([['aaaaaaaaaaaaaaaaaaaaaaaaaa', 'shop'], ['bbbbbbbbbbbbbbbbbbbbbbbbbb', 'partner']]);
  });
});
