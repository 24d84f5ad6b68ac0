// `npm run send -- <MessageType> '<json payload>' [messageId]`: publishes one message the way
// an upstream service would (validated, partitioned, confirmed). Same messageId twice = one effect.
'use strict';
const pino = require('pino');
const { commonSettings, loadConfig, Publisher, contracts } = require('@stockflow/shared');

async function main() {
  const [type, json, messageId] = process.argv.slice(2);
  if (!type || !json || !(type in contracts)) {
    process.stderr.write(`usage: npm run send -- <type> '<json>' [messageId]\ntypes: ${Object.keys(contracts).filter((t) => contracts[t].kind === 'command').join(', ')}\n`);
    process.exit(2);
  }
  const config = loadConfig(commonSettings);
  const pub = await Publisher.connect({ amqpUrl: config.amqpUrl, namespace: config.namespace, partitions: config.partitions, log: pino({ level: 'warn' }), name: 'stockflow:send' });
  try {
    const r = await pub.send(type, JSON.parse(json), messageId ? { messageId } : {});
    process.stdout.write(`${type} ${r.messageId} -> ${r.exchange} partition ${r.partition} (confirmed)\n`);
  } finally {
    await pub.close();
  }
}

main().catch((err) => {
  process.stderr.write(`send failed: ${err.message}\n`);
  process.exit(1);
});
