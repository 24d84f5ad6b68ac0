import { commonSettings, loadConfig } from '../config';
import { ConfigError } from '../errors';

describe('AMQP_URL', () => {
  it('takes a list of broker URLs as it is given', () => {
    const value = 'amqp://a:pw-1@mq-1:5672, amqps://b:pw-2@mq-2:5671/prod';
    expect(loadConfig(commonSettings, { AMQP_URL: value }).amqpUrl).toBe(value);
  });

  it('names the bad entry of a list, and echoes the list without its passwords', () => {
    let error: unknown;
    try {
      loadConfig(commonSettings, { AMQP_URL: 'amqp://a:pw-1@mq-1:5672,http://b:pw-2@mq-2' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([
      'AMQP_URL="amqp://a:***@mq-1:5672,http://b:***@mq-2": address 2 of 2, "http://b:***@mq-2": protocol must be one of amqp:, amqps:',
    ]);
  });

  it('says how to write a list when the entries are not full URLs', () => {
    expect(() => loadConfig(commonSettings, { AMQP_URL: 'amqp://a:pw-1@mq-1:5672,mq-2:5672' })).toThrow(
      'AMQP_URL="amqp://a:***@mq-1:5672,mq-2:5672": must be a URL; each broker of a list is a full URL (amqp://user:password@host:port/vhost), separated by commas',
    );
  });
});
