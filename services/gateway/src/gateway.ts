import { Pool } from 'pg';
import { ConfigError, createLogger, Publisher, quorumGroupSizeOf, readDeployment, type Logger } from '@stockflow/shared';
import { Access } from './access';
import { CommandDesk } from './commands';
import { clientsOf, type GatewayConfig } from './config';
import { ensureCommandsTable, purgeCommands } from './db/commands-table';
import { HttpServer, type Request, type Route } from './http-server';
import { GatewayMetrics } from './metrics';
import { ALIASES, openApiDocument } from './openapi';
import { Outcomes } from './outcomes';
import type { Answer } from './problem';

const PURGE_EVERY_MS = 3_600_000;
/** Postgres connections: a request makes three or four short round trips, waiters re-read theirs. */
const POOL_SIZE = 20;

/** `Prefer: wait=5` → 5, capped; 0 when absent. */
export function waitOf(prefer: string | string[] | undefined, maxS: number): number {
  const m = /(?:^|[,;\s])wait=(\d+)/.exec([prefer ?? ''].flat().join(','));
  return m ? Math.min(Number(m[1]), maxS) : 0;
}

/**
 * The HTTP ingress as a process: Postgres (its own schema, and reads of the workers' inboxes),
 * the client package's Publisher, the outcome listener, the HTTP server. Started in that order,
 * stopped in reverse.
 */
export class Gateway {
  readonly log: Logger;
  private pool: Pool | undefined;
  private publisher: Publisher | undefined;
  private outcomes: Outcomes | undefined;
  private http: HttpServer | undefined;
  private purge: NodeJS.Timeout | undefined;

  constructor(
    readonly config: GatewayConfig,
    opts: { log?: Logger } = {},
  ) {
    this.log = opts.log ?? createLogger({ service: 'gateway', instanceId: config.instanceId, level: config.logLevel });
  }

  get httpPort(): number | undefined {
    return this.http?.boundPort;
  }

  async start(): Promise<void> {
    const { config, log } = this;
    const name = `stockflow:gateway:${config.instanceId}`.slice(0, 63);
    // Its records need not wait for a WAL flush: lost in a Postgres crash, a retry of the key
    // publishes again and the worker's inbox (the truth, committed synchronously) drops the copy.
    const pool = (this.pool = new Pool({ connectionString: config.databaseUrl, max: POOL_SIZE, application_name: name, options: '-c synchronous_commit=off' }));
    pool.on('error', (err) => log.warn({ err: err.message }, 'idle Postgres connection failed'));
    const recorded = await readDeployment(<R>(sql: string, params?: unknown[]) => pool.query(sql, params).then((r) => r.rows as R[]), config.namespace);
    if (recorded && recorded.partitions !== config.partitions) throw new ConfigError([`PARTITIONS=${config.partitions}, but namespace '${config.namespace}' runs ${recorded.partitions}: a key would be sent to the wrong partition`]);
    await ensureCommandsTable(pool);
    this.publisher = await Publisher.connect({ url: config.amqpUrl, namespace: config.namespace, partitions: config.partitions, name, maxMessageBytes: config.maxMessageBytes, sendTimeoutMs: config.sendTimeoutMs, log });
    this.outcomes = new Outcomes({ pool, databaseUrl: config.databaseUrl, amqp: this.publisher.connection, namespace: config.namespace, partitions: config.partitions, quorumGroupSize: quorumGroupSizeOf(config.quorumGroupSize), log });
    await this.outcomes.start();
    const desk = new CommandDesk(pool, this.publisher, this.outcomes, { maxMessageBytes: config.maxMessageBytes, sendTimeoutMs: config.sendTimeoutMs });
    const metrics = new GatewayMetrics({ instanceId: config.instanceId });
    this.http = new HttpServer(config.httpPort, this.routes(desk, new Access(clientsOf(config.tokens), config.ratePerS), metrics), config.maxMessageBytes, log, (route, status, seconds) => {
      metrics.requests.inc({ route, status: String(status) });
      metrics.seconds.observe({ route }, seconds);
    });
    await this.http.start();
    this.purge = setInterval(() => {
      purgeCommands(pool, config.retentionMs).catch((err: unknown) => log.warn({ err: (err as Error).message }, 'purging old command rows failed'));
    }, PURGE_EVERY_MS);
    this.purge.unref();
    log.info({ httpPort: this.httpPort, namespace: config.namespace, clients: [...clientsOf(config.tokens).values()] }, 'gateway ready');
  }

  async stop(): Promise<void> {
    clearInterval(this.purge);
    // Waiters answer with what they have first, so the server's close does not wait out their waits.
    await this.outcomes?.stop();
    await this.http?.stop();
    await this.publisher?.close().catch(() => undefined);
    await this.pool?.end().catch(() => undefined);
  }

  private routes(desk: CommandDesk, access: Access, metrics: GatewayMetrics): Route[] {
    const { config } = this;
    const authed = (handle: (client: string, req: Request, params: Record<string, string>) => Promise<Answer>) => async (req: Request, params: Record<string, string>): Promise<Answer> => {
      const admitted = access.admit(req.headers.authorization);
      return 'status' in admitted ? admitted : handle(admitted.client, req, params);
    };
    const submit = (client: string, req: Request, type: string) => {
      const waitS = waitOf(req.headers.prefer, config.maxWaitS);
      const key = req.headers['idempotency-key'];
      return desk.submit({ client, type, key: Array.isArray(key) ? key[0] : key, body: req.body, waitS }).then((a) => (waitS > 0 ? { ...a, headers: { ...a.headers, 'preference-applied': `wait=${waitS}` } } : a));
    };
    const document = JSON.stringify(openApiDocument(), null, 2) + '\n';
    return [
      { name: 'livez', method: 'GET', pattern: /^\/livez$/, handle: async () => ({ status: 200, body: 'ok\n', headers: { 'content-type': 'text/plain' } }) },
      {
        name: 'readyz',
        method: 'GET',
        pattern: /^\/readyz$/,
        handle: async () => {
          const amqp = this.publisher?.connection.isConnected === true;
          const postgres = await this.pool!.query('SELECT 1').then(() => true, () => false);
          return { status: amqp && postgres ? 200 : 503, body: { status: amqp && postgres ? 'ready' : 'not ready', amqp, postgres } };
        },
      },
      { name: 'metrics', method: 'GET', pattern: /^\/metrics$/, handle: async () => ({ status: 200, body: await metrics.registry.metrics(), headers: { 'content-type': metrics.registry.contentType } }) },
      { name: 'openapi', method: 'GET', pattern: /^\/openapi\.json$/, handle: async () => ({ status: 200, body: document }) },
      { name: 'command', method: 'POST', pattern: /^\/v1\/commands\/(?<type>[A-Za-z]+)$/, handle: authed((client, req, p) => submit(client, req, p.type!)) },
      { name: 'alias', method: 'POST', pattern: new RegExp(`^/v1/(?<alias>${Object.keys(ALIASES).join('|')})$`), handle: authed((client, req, p) => submit(client, req, ALIASES[p.alias!]!)) },
      { name: 'status', method: 'GET', pattern: /^\/v1\/commands\/(?<id>[^/]+)$/, handle: authed((client, _req, p) => desk.status(client, p.id!)) },
    ];
  }
}
