import { DEV_WEBHOOK_SECRET } from '@stockflow/payment-worker';
import { toolArgs } from '@stockflow/shared';
import { ProviderSimulator } from './simulator';

const USAGE = `stockflow-provider-simulator [--help]

The payment provider simulator as a process (npm start, docker compose, the flood). Configured by
the environment: PROVIDER_PORT (4100), PROVIDER_HOST (127.0.0.1), WEBHOOK_URL, WEBHOOK_SECRET,
PROVIDER_WEBHOOKS (on|off), PROVIDER_WEBHOOK_DUPLICATES, PROVIDER_WEBHOOK_DELAY_MS,
PROVIDER_DECLINE_RATE (0..1), PROVIDER_SLOW_MS; the rest through POST /admin/behaviour.`;

/**
 * `node packages/testkit/dist/provider-simulator/main.js` — the simulator as a process, for `npm start`
 * and the flood. Environment:
 *   PROVIDER_PORT               4100
 *   WEBHOOK_URL                 http://127.0.0.1:8083/webhooks/provider (payment-worker's gateway)
 *   WEBHOOK_SECRET              payment-worker's development default
 *   PROVIDER_WEBHOOKS           on  (send a webhook for every outcome; off = answers only)
 *   PROVIDER_WEBHOOK_DUPLICATES 1   (copies of each webhook, sent in parallel)
 *   PROVIDER_WEBHOOK_DELAY_MS   0
 *   PROVIDER_DECLINE_RATE       0   (0..1)
 *   PROVIDER_SLOW_MS            0
 * Everything else is set at run time through POST /admin/behaviour.
 */
async function main(): Promise<void> {
  const env = process.env;
  const sim = new ProviderSimulator({
    port: Number(env.PROVIDER_PORT ?? 4100),
    host: env.PROVIDER_HOST ?? '127.0.0.1',
    webhookSecret: env.WEBHOOK_SECRET || DEV_WEBHOOK_SECRET,
    behaviour: {
      webhookUrl: env.WEBHOOK_URL ?? 'http://127.0.0.1:8083/webhooks/provider',
      webhooks: { enabled: !/^(0|off|false|no)$/i.test(env.PROVIDER_WEBHOOKS ?? 'on'), duplicates: Number(env.PROVIDER_WEBHOOK_DUPLICATES ?? 1), delayMs: Number(env.PROVIDER_WEBHOOK_DELAY_MS ?? 0) },
      declineRate: Number(env.PROVIDER_DECLINE_RATE ?? 0),
      slowMs: Number(env.PROVIDER_SLOW_MS ?? 0),
    },
    log: (line) => process.stdout.write(`[provider] ${line}\n`),
  });
  await sim.start();
  process.stdout.write(`[provider] simulator listening on ${sim.url} (ledger: GET ${sim.url}/admin/ledger)\n`);
  const stop = () => void sim.stop().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (require.main === module) {
  toolArgs(process.argv.slice(2), [], USAGE);
  main().catch((err: unknown) => {
    process.stderr.write(`[provider] failed to start: ${String(err)}\n`);
    process.exit(1);
  });
}
