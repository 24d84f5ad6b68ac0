import { BrokerUrlError, parseBrokerUrls, redactBrokerUrls } from '@stockflow/client/internal';
import type { Setting } from '../config';

/**
 * AMQP_URL: one broker URL, or a cluster's nodes as URLs separated by commas. The value stays
 * the string as given (AmqpConnection and Publisher take it as it is); every entry is checked
 * here so that a bad one stops the process at start, naming the entry, never its password.
 */
export function brokerUrls(env: string, def: string, doc: string): Setting<string> {
  return {
    env,
    default: def,
    doc,
    echo: (raw) => JSON.stringify(redactBrokerUrls(raw)),
    parse(raw) {
      try {
        parseBrokerUrls(raw);
      } catch (err) {
        if (!(err instanceof BrokerUrlError)) throw err;
        // The whole value is echoed (redacted) before the message: one URL needs only the rule.
        throw new Error(err.count === 1 ? err.problem : `address ${err.position} of ${err.count}, ${JSON.stringify(err.shown)}: ${err.problem}`);
      }
      return raw;
    },
  };
}
