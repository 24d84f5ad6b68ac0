// `npm start`: runs the payment-provider simulator, the three workers and the HTTP gateway against the local
// services, with readable, prefixed logs. Ctrl-C stops them cleanly (SIGTERM: each worker
// drains its partitions and flushes its outbox); a second Ctrl-C kills them.
'use strict';
const { spawn } = require('node:child_process');
const { join } = require('node:path');

const ROOT = join(__dirname, '..');
const { workerNodeArgs } = require(join(ROOT, 'shared/dist/worker/node-args.js'));
const tty = process.stdout.isTTY;
const paint = (code, s) => (tty ? `\x1b[${code}m${s}\x1b[0m` : s);
const LEVELS = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO ', 40: 'WARN ', 50: 'ERROR', 60: 'FATAL' };
const LEVEL_COLOR = { trace: 90, debug: 90, info: 32, warn: 33, error: 31, fatal: 41 };
const HIDDEN = new Set(['level', 'time', 'msg', 'service', 'instance', 'pid', 'hostname']);

// Each worker and the gateway listen on their own HTTP port (8081, 8082, 8083, 8084 by default).
// HTTP_PORT names one port, so for `npm start` each has a variable of its own.
const children = [
  { name: 'provider ', color: 35, cmd: 'packages/testkit/dist/provider-simulator/main.js', external: !!process.env.PROVIDER_URL },
  { name: 'inventory', color: 36, cmd: 'services/inventory-worker/dist/main.js', ready: 'inventory-worker ready', portVar: 'INVENTORY_HTTP_PORT', port: 8081 },
  { name: 'orders   ', color: 34, cmd: 'services/order-worker/dist/main.js', ready: 'order-worker ready', portVar: 'ORDER_HTTP_PORT', port: 8082 },
  { name: 'payments ', color: 33, cmd: 'services/payment-worker/dist/main.js', ready: 'payment-worker ready', portVar: 'PAYMENT_HTTP_PORT', port: 8083 },
  { name: 'gateway  ', color: 32, cmd: 'services/gateway/dist/main.js', ready: 'gateway ready', portVar: 'GATEWAY_HTTP_PORT', port: 8084 },
].filter((c) => !c.external);

// `npm start` is the local development stack: the provider simulator signs webhooks with the
// public development secret, which the workers accept only in development. A deployment sets
// STOCKFLOW_ENV itself (and its own WEBHOOK_SECRET).
const ENV = { STOCKFLOW_ENV: 'development', ...process.env };
if (ENV.HTTP_PORT !== undefined) {
  process.stdout.write(`HTTP_PORT would give every service one port: ignored; set ${children.filter((c) => c.portVar).map((c) => c.portVar).join(', ')} instead\n`);
  delete ENV.HTTP_PORT;
}
for (const c of children) if (c.portVar && ENV[c.portVar] !== undefined) c.port = Number(ENV[c.portVar]);
// The gateway's public development token (services/gateway/src/config.ts), accepted only in development.
const DEV_TOKEN = require(join(ROOT, 'services/gateway/dist/config.js')).DEV_GATEWAY_TOKENS.split(':')[1];
const paymentsPort = children.find((c) => c.portVar === 'PAYMENT_HTTP_PORT')?.port ?? 8083;
ENV.WEBHOOK_URL ??= `http://127.0.0.1:${paymentsPort}/webhooks/provider`;

/** The environment of one child: its own HTTP port for a worker. */
function envOf(child) {
  return child.portVar ? { ...ENV, HTTP_PORT: String(child.port) } : ENV;
}

let stopping = false;
const ready = new Set();

function pretty(line) {
  let rec;
  try {
    rec = JSON.parse(line);
  } catch {
    return line;
  }
  if (typeof rec !== 'object' || rec === null || !('msg' in rec)) return line;
  const level = typeof rec.level === 'string' ? rec.level : (LEVELS[rec.level] || String(rec.level)).trim().toLowerCase();
  const time = typeof rec.time === 'string' ? rec.time.slice(11, 23) : new Date(rec.time || Date.now()).toISOString().slice(11, 23);
  const extra = Object.entries(rec)
    .filter(([k]) => !HIDDEN.has(k))
    .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : v}`)
    .join(' ');
  return `${paint(90, time)} ${paint(LEVEL_COLOR[level] || 0, level.toUpperCase().padEnd(5))} ${rec.msg}${extra ? ' ' + paint(90, extra) : ''}`;
}

function run(child) {
  // Own process group: a terminal's Ctrl-C reaches only this supervisor, which then sends
  // exactly one SIGTERM (a second signal would make a worker skip its clean drain).
  const proc = spawn(process.execPath, [...(child.ready ? workerNodeArgs() : []), join(ROOT, child.cmd)], { cwd: ROOT, env: envOf(child), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  child.proc = proc;
  const prefix = paint(child.color, `[${child.name}]`);
  for (const stream of [proc.stdout, proc.stderr]) {
    let buf = '';
    stream.on('data', (chunk) => {
      buf += chunk;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (!line.trim()) continue;
        process.stdout.write(`${prefix} ${pretty(line)}\n`);
        if (child.ready && line.includes(`"${child.ready}"`)) markReady(child);
      }
    });
  }
  proc.on('exit', (code, signal) => {
    child.proc = undefined;
    if (stopping) return;
    process.stdout.write(`${prefix} ${paint(31, `exited (${signal || code}); restarting in 2 s`)}\n`);
    ready.delete(child.name);
    setTimeout(() => !stopping && run(child), 2000);
  });
}

function markReady(child) {
  ready.add(child.name);
  const workers = children.filter((c) => c.ready);
  if (ready.size !== workers.length || markReady.done) return;
  markReady.done = true;
  const ns = process.env.STOCKFLOW_NAMESPACE || 'stockflow';
  const gatewayPort = children.find((c) => c.portVar === 'GATEWAY_HTTP_PORT').port;
  process.stdout.write(
    [
      '',
      paint(32, '  stockflow is running: inventory-worker, order-worker, payment-worker and the gateway are ready.'),
      '',
      '  Send real traffic from another terminal:',
      `    npm run flood -- --attach --commands 2000        ${paint(90, '# orders, stock moves, duplicates, then the invariant check')}`,
      `    npm run send -- RegisterWarehouse '{"warehouseId":"wh-1","name":"Main"}' wh-1`,
      `    npm run send -- ReceiveStock '{"productId":"sku-1","warehouseId":"wh-1","quantity":5}' rcv-1`,
      `    curl -s localhost:${gatewayPort}/v1/commands/ReceiveStock -H 'authorization: Bearer ${DEV_TOKEN}' -H 'idempotency-key: rcv-2' -H 'prefer: wait=5' -H 'content-type: application/json' -d '{"productId":"sku-1","warehouseId":"wh-1","quantity":2}'  ${paint(90, '# the same over HTTP, answered with its outcome')}`,
      `    npm run stock -- sku-1 wh-1                        ${paint(90, '# read model: levels and ledger of one product')}`,
      '  Watch it:',
      `    npm run ops -- status                             ${paint(90, '# partitions, owners, queue depths, DLQs, outbox backlog')}`,
      `    curl -s localhost:${children.find((c) => c.portVar === 'INVENTORY_HTTP_PORT').port}/metrics | grep stockflow_  ${paint(90, `# Prometheus metrics (${children.filter((c) => c.portVar).map((c) => `${c.port} ${c.name.trim()}`).join(', ')})`)}`,
      `    open http://localhost:15672                       ${paint(90, `# RabbitMQ UI (guest/guest), queues ${ns}.*`)}`,
      '',
      '  Ctrl-C stops everything cleanly.',
      '',
    ].join('\n') + '\n',
  );
}

function stop(signal) {
  if (stopping) {
    process.stdout.write(paint(31, '\nsecond signal: killing workers\n'));
    for (const c of children) c.proc?.kill('SIGKILL');
    process.exit(1);
  }
  stopping = true;
  process.stdout.write(paint(33, `\n${signal}: stopping workers (draining partitions, flushing outboxes)…\n`));
  for (const c of children) c.proc?.kill('SIGTERM');
  const check = setInterval(() => {
    if (children.every((c) => !c.proc)) {
      clearInterval(check);
      process.stdout.write(paint(32, 'all stopped.\n'));
      process.exit(0);
    }
  }, 100);
}

process.on('exit', () => {
  for (const c of children) c.proc?.kill('SIGKILL');
});
process.on('SIGINT', () => stop('SIGINT'));
process.on('SIGTERM', () => stop('SIGTERM'));
for (const c of children) run(c);
