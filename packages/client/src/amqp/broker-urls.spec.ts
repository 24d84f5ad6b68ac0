import { BrokerUrlError, ConnectError } from '../errors';
import { parseBrokerUrls, redactBrokerUrls, redactUrlsIn } from './broker-urls';

function refusal(value: string | string[]): BrokerUrlError {
  try {
    parseBrokerUrls(value);
  } catch (err) {
    if (err instanceof BrokerUrlError) return err;
    throw err;
  }
  throw new Error(`accepted ${JSON.stringify(value)}`);
}

describe('parseBrokerUrls', () => {
  it('takes one URL as a list of one', () => {
    expect(parseBrokerUrls('amqp://guest:guest@127.0.0.1:5672')).toEqual(['amqp://guest:guest@127.0.0.1:5672']);
    expect(parseBrokerUrls('  amqps://u:p@mq:5671/vh  ')).toEqual(['amqps://u:p@mq:5671/vh']);
  });

  it('splits URLs separated by commas, with or without whitespace, each with its own credentials and vhost', () => {
    expect(parseBrokerUrls('amqp://u:p@h1:5672,amqp://u:p@h2:5673')).toEqual(['amqp://u:p@h1:5672', 'amqp://u:p@h2:5673']);
    expect(parseBrokerUrls('amqp://a:1@h1:5672 , amqps://b:2@h2:5671/prod ,\n amqp://h3')).toEqual(['amqp://a:1@h1:5672', 'amqps://b:2@h2:5671/prod', 'amqp://h3']);
  });

  it('takes an array as it is, each entry trimmed', () => {
    expect(parseBrokerUrls([' amqp://h1 ', 'amqp://h2'])).toEqual(['amqp://h1', 'amqp://h2']);
  });

  it('keeps a password with a comma in it inside its URL', () => {
    expect(parseBrokerUrls('amqp://app:se,cret@h1:5672,amqp://app:se,cret@h2:5672')).toEqual(['amqp://app:se,cret@h1:5672', 'amqp://app:se,cret@h2:5672']);
  });

  it('names the bad entry by position, without its password, and is a ConnectError', () => {
    const err = refusal('amqp://app:s3cret@h1:5672, http://app:s3cret@h2:5672');
    expect(err).toBeInstanceOf(ConnectError);
    expect(err).toMatchObject({ position: 2, count: 2, shown: 'http://app:***@h2:5672', problem: 'protocol must be one of amqp:, amqps:' });
    expect(err.message).toBe('broker address 2 of 2 ("http://app:***@h2:5672"): protocol must be one of amqp:, amqps:');
    expect(err.message).not.toContain('s3cret');
  });

  it('says so when the addresses are not full URLs', () => {
    const hosts = refusal('amqp://app:s3cret@h1:5672,h2:5672');
    expect(hosts).toMatchObject({ position: 1, count: 1, shown: 'amqp://app:***@h1:5672,h2:5672' });
    expect(hosts.problem).toMatch(/^must be a URL; each broker of a list is a full URL/);
    const commaHosts = refusal('amqp://h1,h2');
    expect(commaHosts.problem).toMatch(/^host "h1,h2" is not a host name; each broker of a list is a full URL/);
    expect(refusal('amqp://h1, amqp://h2,').problem).toMatch(/^host "h2," is not a host name/);
  });

  it('refuses an empty value and an empty entry', () => {
    expect(refusal('').problem).toBe('no broker address given');
    expect(refusal([]).problem).toBe('no broker address given');
    expect(refusal(['amqp://h1', ' '])).toMatchObject({ position: 2, count: 2, problem: 'is empty (a stray comma?)' });
  });

  it('never shows a password, not even of a URL the parser cannot read', () => {
    const slash = refusal('amqp://svc:hunter/2@127.0.0.1:5672');
    expect(slash.message).toBe('broker address "amqp://svc:***@127.0.0.1:5672": must be a URL');
    expect(slash.message).not.toContain('hunter');
  });
});

describe('redaction', () => {
  it('redacts every entry of a list', () => {
    expect(redactBrokerUrls('amqp://a:pw1@h1:5672, amqp://b:pw2@h2:5673/vh')).toBe('amqp://a:***@h1:5672,amqp://b:***@h2:5673/vh');
    expect(redactBrokerUrls(['amqp://h1', 'amqps://u:x@h2'])).toBe('amqp://h1,amqps://u:***@h2');
  });

  it('redacts URLs anywhere in a text', () => {
    expect(redactUrlsIn('connect to amqp://app:s3cret@h1:5672/?heartbeat=5 failed; amqps://b:x/y@h2 too')).toBe('connect to amqp://app:***@h1:5672/?heartbeat=5 failed; amqps://b:***@h2 too');
  });
});
