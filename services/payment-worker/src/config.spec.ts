import { ConfigError } from '@stockflow/shared';
import { DEV_WEBHOOK_SECRET, loadPaymentConfig } from './config';

function problems(env: NodeJS.ProcessEnv): string[] {
  try {
    loadPaymentConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('payment-worker configuration', () => {
  it('refuses to start without WEBHOOK_SECRET outside development, naming the variable', () => {
    expect(problems({})).toEqual([expect.stringMatching(/^WEBHOOK_SECRET is required .*STOCKFLOW_ENV=development/)]);
    expect(problems({ STOCKFLOW_ENV: 'production' })).toEqual([expect.stringMatching(/^WEBHOOK_SECRET is required/)]);
  });

  it('refuses the public development secret outside development, even when set explicitly', () => {
    expect(problems({ WEBHOOK_SECRET: DEV_WEBHOOK_SECRET })).toEqual([expect.stringMatching(/^WEBHOOK_SECRET is the public development default/)]);
  });

  it('takes the development default only with STOCKFLOW_ENV=development', () => {
    expect(loadPaymentConfig({ STOCKFLOW_ENV: 'development' }).webhookSecret).toBe(DEV_WEBHOOK_SECRET);
    expect(loadPaymentConfig({ WEBHOOK_SECRET: 'a-real-secret-of-enough-length' }).webhookSecret).toBe('a-real-secret-of-enough-length');
  });

  it('never echoes a secret or a URL password in its errors', () => {
    const found = problems({ WEBHOOK_SECRET: 'hunter2-short', DATABASE_URL: 'mysql://app:hunter2@db:3306/x', AMQP_URL: 'http://u:s3cr3t-pw@mq' });
    expect(found).toHaveLength(3);
    expect(found.join('\n')).not.toMatch(/hunter2|s3cr3t/);
    expect(found).toEqual(
      expect.arrayContaining([
        'WEBHOOK_SECRET: must be at least 16 characters',
        'DATABASE_URL="mysql://app:***@db:3306/x": protocol must be one of postgres:, postgresql:',
        expect.stringMatching(/^AMQP_URL="http:\/\/u:\*\*\*@mq\/?": protocol must be one of/),
      ]),
    );
  });
});
