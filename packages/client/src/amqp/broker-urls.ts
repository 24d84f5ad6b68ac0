import { BrokerUrlError } from '../errors';

/**
 * Broker addresses: one URL, or the nodes of a cluster as a list. A list is given as an array,
 * or as one string of full URLs separated by commas (AMQP_URL), with or without whitespace:
 *   amqp://app:secret@mq-1:5672, amqp://app:secret@mq-2:5672
 * Each entry is a full URL with its own credentials and vhost.
 */

const PROTOCOLS = ['amqp:', 'amqps:'];

/**
 * A string splits only at a comma that starts another URL (`scheme://`): a password with a
 * comma in it (legal in a URL's user part) keeps working, and a wrong separator leaves the
 * tail inside the entry, which then fails as a whole instead of leaking a password fragment
 * into an error message as an "entry" of its own.
 */
const SEPARATOR = /\s*,\s*(?=[a-z][a-z0-9+.-]*:\/\/)/i;

/** The entries of a list, trimmed, before any validation. */
function entriesOf(value: string | readonly string[]): string[] {
  if (typeof value === 'string') return value.trim() === '' ? [] : value.trim().split(SEPARATOR);
  return value.map((e) => e.trim());
}

/**
 * A URL with its password replaced by ***, for messages and logs. Done on the text, not through
 * URL parsing: a password with a '/' in it is not a URL's password to the parser, but it is one.
 */
export function redactUrl(raw: string): string {
  return raw.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:@/]*):[^@]*@/i, '$1:***@');
}

/** Every entry of a broker address list without its password, joined with commas. */
export function redactBrokerUrls(value: string | readonly string[]): string {
  return entriesOf(value).map(redactUrl).join(',');
}

/**
 * Free text (an error message from amqplib or the socket) with the password of every URL in it
 * replaced by ***, wherever in the text the URL stands.
 */
export function redactUrlsIn(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/[^:@/\s]*):[^@\s]*@/gi, '$1:***@');
}

/**
 * The addresses of a broker address list, each checked: a URL, amqp: or amqps:, a host without
 * a comma (`amqp://h1,h2` is one URL to the parser, with the host "h1,h2"). Throws a
 * BrokerUrlError naming the first bad entry by position and without its password.
 */
export function parseBrokerUrls(value: string | readonly string[]): string[] {
  const entries = entriesOf(value);
  if (entries.length === 0) throw new BrokerUrlError(1, 1, '', 'no broker address given');
  entries.forEach((entry, i) => {
    const problem = problemOf(entry);
    if (problem) throw new BrokerUrlError(i + 1, entries.length, redactUrl(entry), problem);
  });
  return entries;
}

const LIST_HINT = 'each broker of a list is a full URL (amqp://user:password@host:port/vhost), separated by commas';

function problemOf(entry: string): string | undefined {
  if (entry === '') return 'is empty (a stray comma?)';
  let parsed: URL;
  try {
    parsed = new URL(entry);
  } catch {
    return entry.includes(',') ? `must be a URL; ${LIST_HINT}` : 'must be a URL';
  }
  if (!PROTOCOLS.includes(parsed.protocol)) return `protocol must be one of ${PROTOCOLS.join(', ')}`;
  if (/[,\s]/.test(parsed.hostname)) return `host ${JSON.stringify(parsed.hostname)} is not a host name; ${LIST_HINT}`;
  return undefined;
}
