import type { StartedServices } from './services';
import { dropDatabase } from '@stockflow/testkit/support/template-db';

export default async function globalTeardown(): Promise<void> {
  const template = process.env.STOCKFLOW_TEST_TEMPLATE;
  if (template && process.env.DATABASE_URL) await dropDatabase(process.env.DATABASE_URL, template).catch(() => undefined);
  await (globalThis as { __stockflowServices?: StartedServices }).__stockflowServices?.stop();
}
