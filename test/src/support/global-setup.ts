import { resolveServices } from './services';
import { removeStaleNamespaces } from './stale-namespaces';
import { createTemplate, removeStaleTemplates } from '@stockflow/testkit/support/template-db';

/** Runs once per jest run: finds the services and builds the migrated template database. */
export default async function globalSetup(): Promise<void> {
  const services = await resolveServices();
  Object.assign(process.env, services.urls);
  const template = `sf_tmpl_${process.pid}`;
  process.env.STOCKFLOW_TEST_TEMPLATE = template;
  await createTemplate(services.urls.DATABASE_URL, template);
  if (services.source === 'local') {
    const removed = await removeStaleNamespaces(services.urls.REDIS_URL, services.urls.DATABASE_URL).catch(() => []);
    if (removed.length > 0) process.stdout.write(`[stockflow tests] removed ${removed.length} namespaces left behind by killed runs\n`);
    const templates = await removeStaleTemplates(services.urls.DATABASE_URL).catch(() => []);
    if (templates.length > 0) process.stdout.write(`[stockflow tests] removed ${templates.length} template databases left behind by killed runs\n`);
  }
  (globalThis as { __stockflowServices?: unknown }).__stockflowServices = services;
  process.stdout.write(`\n[stockflow tests] services from ${services.source}; template database ${template}\n`);
}
