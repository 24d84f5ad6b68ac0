import { commonSettings, integer, loadConfig, validateCommon } from './config';
import { ConfigError } from './errors';

describe('config', () => {
  it('uses the named defaults when nothing is set', () => {
    const c = loadConfig(commonSettings, {});
    expect(c.partitions).toBe(16);
    expect(c.namespace).toBe('stockflow');
    expect(c.sabotage).toEqual([]);
    expect(() => validateCommon(c)).not.toThrow();
  });

  it('reads and converts every kind of value', () => {
    const c = loadConfig(commonSettings, { PARTITIONS: '32', DEDUP_FAST_PATH: 'off', STOCKFLOW_NAMESPACE: 'staging-2', AMQP_URL: 'amqps://u:p@mq:5671/vh' });
    expect(c).toMatchObject({ partitions: 32, dedupFastPath: false, namespace: 'staging-2', amqpUrl: 'amqps://u:p@mq:5671/vh' });
  });

  it('names every bad variable at once, with the value and the rule', () => {
    let error: unknown;
    try {
      loadConfig(commonSettings, { PARTITIONS: 'sixteen', BATCH_SIZE: '0', DATABASE_URL: 'mysql://x', DEDUP_FAST_PATH: 'maybe', STOCKFLOW_NAMESPACE: 'Has Spaces' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems;
    expect(problems).toHaveLength(5);
    expect(problems).toEqual(
      expect.arrayContaining([
        'PARTITIONS="sixteen": must be an integer',
        'BATCH_SIZE="0": must be between 1 and 1000',
        'DATABASE_URL="mysql://x": protocol must be one of postgres:, postgresql:',
        'DEDUP_FAST_PATH="maybe": must be true or false',
      ]),
    );
    expect((error as Error).message).toContain('invalid configuration');
  });

  it('checks values that only make sense together', () => {
    const c = loadConfig(commonSettings, { RETRY_BASE_MS: '9000', RETRY_MAX_MS: '1000', HEARTBEAT_MS: '4000', LEASE_TTL_MS: '5000' });
    expect(() => validateCommon(c)).toThrow(/RETRY_BASE_MS \(9000\) must not exceed RETRY_MAX_MS[\s\S]*HEARTBEAT_MS \(4000\) must be at most half of LEASE_TTL_MS/);
  });

  it('refuses test-only sabotage without the explicit opt-in', () => {
    const c = loadConfig(commonSettings, { STOCKFLOW_SABOTAGE: 'no-inbox' });
    expect(() => validateCommon(c)).toThrow(/STOCKFLOW_ALLOW_SABOTAGE/);
    expect(() => loadConfig(commonSettings, { STOCKFLOW_SABOTAGE: 'no-brakes' })).toThrow(/'no-brakes' is not one of/);
    const allowed = loadConfig(commonSettings, { STOCKFLOW_SABOTAGE: 'no-inbox,no-locks', STOCKFLOW_ALLOW_SABOTAGE: 'i-know-this-breaks-things' });
    expect(() => validateCommon(allowed)).not.toThrow();
    expect(allowed.sabotage).toEqual(['no-inbox', 'no-locks']);
  });

  it('treats an empty variable as unset', () => {
    expect(loadConfig({ n: integer('N', 7, 'doc', { min: 0, max: 9 }) }, { N: '' }).n).toBe(7);
  });
});
