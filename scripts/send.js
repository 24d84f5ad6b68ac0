// `npm run send -- <Type> '<json payload>' [messageId]`: publishes one command the way an
// upstream service would, through @stockflow/client (validated, partitioned, confirmed).
// Same messageId twice = one effect. Exit codes: 0 confirmed, 1 not sent (broker), 2 usage or
// a message the workers would refuse (nothing was sent).
'use strict';
const { parseArgs } = require('node:util');
const { contracts, Publisher, ValidationError } = require('@stockflow/client');
const { commonSettings, ConfigError, loadConfig } = require('@stockflow/shared');

/** A CLI fails fast; workers keep retrying, a person at a terminal should not wait. */
const CONNECT_TIMEOUT_MS = 5000;
const SEND_TIMEOUT_MS = 5000;

// ProviderWebhook is the provider's signed webhook: it comes in through the payment worker's gateway.
const commands = Object.keys(contracts).filter((t) => contracts[t].kind === 'command' && !contracts[t].requiredHeaders);
const USAGE = `usage: npm run send -- <Type> '<json payload>' [messageId]
  Publishes one command to the deployment in AMQP_URL / STOCKFLOW_NAMESPACE / PARTITIONS and
  waits for the broker's confirm. Without messageId a random one is used (re-sending it is then
  not deduplicated).
types: ${commands.join(', ')}`;

class UsageError extends Error {}

function parse(argv) {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(err.message);
  }
  if (parsed.values.help) return { help: true };
  const [type, json, messageId, ...rest] = parsed.positionals;
  if (!type || json === undefined) throw new UsageError('a message type and a JSON payload are required');
  if (rest.length > 0) throw new UsageError(`unexpected argument ${rest[0]}`);
  if (!Object.hasOwn(contracts, type)) throw new UsageError(`unknown type ${type} (known: ${commands.join(', ')})`);
  if (contracts[type].kind !== 'command') throw new UsageError(`${type} is an event, published by stockflow's workers; send one of: ${commands.join(', ')}`);
  if (!commands.includes(type)) throw new UsageError(`${type} is the payment provider's signed webhook: POST it to the payment worker's /webhooks/provider`);
  if (messageId === '') throw new UsageError('the messageId must not be empty (leave it out for a random one)');
  let payload;
  try {
    payload = JSON.parse(json);
  } catch (err) {
    throw new UsageError(`the payload is not JSON: ${err.message}`);
  }
  return { type, payload, messageId };
}

async function main() {
  const args = parse(process.argv.slice(2));
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  let config;
  try {
    config = loadConfig(commonSettings);
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(err.message);
    throw err;
  }
  const pub = await Publisher.connect({
    url: config.amqpUrl,
    namespace: config.namespace,
    partitions: config.partitions,
    maxMessageBytes: config.maxMessageBytes,
    name: 'stockflow:send',
    connectTimeoutMs: CONNECT_TIMEOUT_MS,
    sendTimeoutMs: SEND_TIMEOUT_MS,
  });
  try {
    const r = await pub.send(args.type, args.payload, args.messageId ? { messageId: args.messageId } : {});
    process.stdout.write(`${args.type} ${r.messageId} -> ${r.exchange} partition ${r.partition} (confirmed)\n`);
    return 0;
  } finally {
    await pub.close();
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    if (err instanceof UsageError) {
      process.stderr.write(`send: ${err.message}\n${USAGE}\n`);
      process.exit(2);
    }
    if (err instanceof ValidationError) {
      process.stderr.write(`send: not sent, ${err.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`send failed: ${err.message}\n`);
    process.exit(1);
  },
);
