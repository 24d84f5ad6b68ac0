// Publishing a command to stockflow with nothing but amqplib (no stockflow code), e.g.:
//   AMQP_URL=amqp://guest:guest@127.0.0.1:5672 node publish-with-amqplib.js receipt-PO-117-1 sku-42 wh-main 5
// docs/publishing.md explains every line; test/src/docs/publishing.int.ts runs this file.
'use strict';
const amqp = require('amqplib');

const NAMESPACE = process.env.STOCKFLOW_NAMESPACE || 'stockflow';
const PARTITIONS = Number(process.env.PARTITIONS || 16); // the deployment's partition count

// partition = fmix32(fnv1a32(utf8(key))) mod N -- must match packages/client/src/wire/partitioner.ts
function fnv1a32(key) {
  let h = 0x811c9dc5;
  for (const byte of Buffer.from(key, 'utf8')) {
    h ^= byte;
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
function fmix32(h) {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
function partitionOf(key, partitions) {
  return fmix32(fnv1a32(key)) % partitions;
}
function routingKey(partition, partitions) {
  return String(partition).padStart(Math.max(2, String(partitions - 1).length), '0');
}

async function publishReceipt(conn, { messageId, productId, warehouseId, quantity }) {
  const key = `${productId}:${warehouseId}`; // ReceiveStock's partition key (docs/messages.md)
  const ch = await conn.createConfirmChannel();
  let returned = false;
  ch.on('return', () => (returned = true)); // unroutable: a confirm would still say ok
  const body = Buffer.from(JSON.stringify({ productId, warehouseId, quantity }));
  ch.publish(`${NAMESPACE}.commands.inventory`, routingKey(partitionOf(key, PARTITIONS), PARTITIONS), body, {
    messageId, // the idempotency key: re-send the SAME id on retry, never a new one
    type: 'ReceiveStock',
    contentType: 'application/json',
    persistent: true,
    mandatory: true,
    correlationId: messageId,
    timestamp: Math.floor(Date.now() / 1000),
    headers: { 'x-version': 1, 'x-occurred-at': new Date().toISOString(), 'x-partition-key': key },
  });
  await ch.waitForConfirms(); // throws if the broker nacked
  await ch.close();
  if (returned) throw new Error('unroutable: is the topology declared (npm run bootstrap)?');
}

module.exports = { partitionOf, routingKey };

if (require.main === module) {
  const [messageId, productId, warehouseId, quantity] = process.argv.slice(2);
  (async () => {
    const conn = await amqp.connect(process.env.AMQP_URL || 'amqp://guest:guest@127.0.0.1:5672');
    try {
      await publishReceipt(conn, { messageId, productId, warehouseId, quantity: Number(quantity) });
      console.log(`published ${messageId}`);
    } finally {
      await conn.close();
    }
  })().catch((err) => {
    console.error(err.message);
    process.exit(1);
  });
}
