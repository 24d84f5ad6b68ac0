import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { inventorySettings, loadInventoryConfig } from '@stockflow/inventory-worker';
import { loadOrderConfig, orderSettings } from '@stockflow/order-worker';
import { loadPaymentConfig, paymentSettings } from '@stockflow/payment-worker';
import { gatewaySettings, loadGatewayConfig } from '@stockflow/gateway';
import { DEFAULT_WORKER_NODE_ARGS, type Setting } from '@stockflow/shared';
import { IMAGES } from '../support/services';
import { DEFAULT_BASE_PORT, nodesOf } from '@stockflow/testkit/cluster/local-cluster';

const ROOT = join(__dirname, '../../..');

interface Service {
  image?: string;
  build?: { context: string; dockerfile: string; args?: Record<string, string> };
  environment?: Record<string, string>;
  ports?: string[];
  expose?: string[];
  container_name?: string;
  hostname?: string;
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
  stop_grace_period?: string;
  command?: string[];
  profiles?: string[];
  volumes?: string[];
}

const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, Service>; volumes: Record<string, unknown> };

const WORKERS = [
  { name: 'inventory-worker', settings: inventorySettings, load: loadInventoryConfig },
  { name: 'order-worker', settings: orderSettings, load: loadOrderConfig },
  { name: 'payment-worker', settings: paymentSettings, load: loadPaymentConfig },
] as const;

const envNames = (settings: Record<string, Setting<unknown>>) => new Set(Object.values(settings).map((s) => s.env));
const pinned = (image: string) => /^[a-z0-9./-]+:\d+\.\d+(\.\d+)?[-a-z0-9.]*$/.test(image) && !image.includes('latest');
const seconds = (d: string) => Number(/^(\d+)s$/.exec(d)?.[1] ?? NaN);

/** Directories of the workspace packages `dir` runs on (its @stockflow dependencies, transitively). */
function workspaceClosure(dir: string): string[] {
  const workspaces = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { workspaces: string[] }).workspaces;
  const dirOf = new Map(workspaces.map((w) => [(JSON.parse(readFileSync(join(ROOT, w, 'package.json'), 'utf8')) as { name: string }).name, w]));
  const seen = new Set<string>();
  const visit = (d: string) => {
    const deps = Object.keys((JSON.parse(readFileSync(join(ROOT, d, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> }).dependencies ?? {});
    for (const name of deps) {
      const w = dirOf.get(name);
      if (w && !seen.has(w)) {
        seen.add(w);
        visit(w);
      }
    }
  };
  visit(dir);
  return [...seen].sort();
}

/**
 * The Dockerfile's instructions, continuation lines joined, with the build arguments put in as
 * Docker does (`${SERVICE}`, `$SERVICE`).
 */
function dockerfile(path: string, buildArgs: Record<string, string> = {}): { instruction: string; args: string }[] {
  const text = Object.entries(buildArgs).reduce((t, [k, v]) => t.replaceAll(`\${${k}}`, v).replaceAll(`$${k}`, v), readFileSync(join(ROOT, path), 'utf8'));
  return text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const [instruction, ...rest] = l.split(/\s+/);
      return { instruction: instruction!.toUpperCase(), args: rest.join(' ') };
    });
}

type Line = { instruction: string; args: string };

/**
 * What the COPY instructions of lines[from, to) put into the image, with a whole-stage copy
 * (`COPY --from=<stage> /app/ ./`) expanded into that stage's own copies.
 */
function copiedBy(lines: Line[], from: number, to: number): string[] {
  const out: string[] = [];
  for (const l of lines.slice(from, to)) {
    if (l.instruction !== 'COPY') continue;
    const whole = /^--from=(\S+) \/app\/ \.\/$/.exec(l.args);
    if (!whole) {
      out.push(l.args);
      continue;
    }
    const start = lines.findIndex((x) => x.instruction === 'FROM' && x.args.endsWith(` AS ${whole[1]}`));
    expect(start).toBeGreaterThanOrEqual(0);
    const end = lines.findIndex((x, k) => k > start && x.instruction === 'FROM');
    out.push(...copiedBy(lines, start + 1, end < 0 ? lines.length : end));
  }
  return out;
}

/**
 * No Docker engine runs where the tests run, so docker-compose.yml and the Dockerfiles are
 * checked against what the workers actually read: pinned images, env variables that exist
 * (and validate), health checks on the right port and path, non-root multi-stage images.
 */
describe('docker-compose.yml', () => {
  it('has the infrastructure on the same pinned images the tests use, with health checks', () => {
    expect(compose.services.postgres?.image).toBe(IMAGES.postgres);
    expect(compose.services.rabbitmq?.image).toBe(IMAGES.rabbitmq);
    expect(compose.services.redis?.image).toBe(IMAGES.redis);
    expect(IMAGES.rabbitmq).toMatch(/^rabbitmq:3\.10\.\d+-management/);
    for (const name of ['postgres', 'rabbitmq', 'redis']) {
      expect(pinned(compose.services[name]!.image!)).toBe(true);
      expect(compose.services[name]!.healthcheck?.test.length).toBeGreaterThan(0);
    }
  });

  describe.each(WORKERS)('$name', ({ name, settings, load }) => {
    const svc = compose.services[name]!;
    const env = svc.environment ?? {};

    const image = () => dockerfile(svc.build!.dockerfile, svc.build!.args);

    it('is built from the one Dockerfile with its own arguments and can scale (no container name, no host port)', () => {
      expect(svc.build).toEqual({ context: '.', dockerfile: 'Dockerfile', args: { SERVICE: name, HTTP_PORT: String(settings.httpPort.default) } });
      expect(existsSync(join(ROOT, svc.build!.dockerfile))).toBe(true);
      expect(svc.container_name).toBeUndefined();
      expect(svc.ports).toBeUndefined();
    });

    it('sets only variables the worker reads, and they validate', () => {
      const known = envNames(settings);
      expect(Object.keys(env).filter((k) => !known.has(k))).toEqual([]);
      const config = load(env);
      expect(config.ownership).toBe('leases');
      // URLs point at services of this compose file.
      for (const url of [config.databaseUrl, config.amqpUrl, config.redisUrl]) expect(Object.keys(compose.services)).toContain(new URL(url).hostname);
      for (const dep of ['postgres', 'rabbitmq', 'redis']) expect(svc.depends_on?.[dep]).toEqual({ condition: 'service_healthy' });
    });

    it('checks /readyz on the port the worker listens on', () => {
      const port = load(env).httpPort;
      expect(port).toBe(settings.httpPort.default);
      expect(svc.expose).toEqual([String(port)]);
      expect(svc.healthcheck!.test.join(' ')).toContain(`http://127.0.0.1:${port}/readyz`);
    });

    it('gives the worker more than SHUTDOWN_GRACE_MS to stop', () => {
      expect(seconds(svc.stop_grace_period!) * 1000).toBeGreaterThan(load(env).shutdownGraceMs);
    });

    it('has a multi-stage, non-root Dockerfile with a /readyz HEALTHCHECK on its port', () => {
      const lines = image();
      const froms = lines.filter((l) => l.instruction === 'FROM');
      expect(froms.length).toBeGreaterThanOrEqual(2);
      for (const f of froms) expect(pinned(f.args.split(' ')[0]!)).toBe(true);
      const final = lines.slice(lines.lastIndexOf(froms.at(-1)!));
      const user = final.filter((l) => l.instruction === 'USER').at(-1)?.args;
      expect(user).toBeDefined();
      expect(['root', '0', '0:0']).not.toContain(user);
      const port = String(settings.httpPort.default);
      expect(final.find((l) => l.instruction === 'ENV' && l.args.startsWith('HTTP_PORT='))?.args).toBe(`HTTP_PORT=${port}`);
      expect(final.find((l) => l.instruction === 'EXPOSE')?.args).toBe(port);
      const health = final.find((l) => l.instruction === 'HEALTHCHECK')?.args ?? '';
      expect(health).toContain('/readyz');
      expect(health).toContain('process.env.HTTP_PORT');
      // The command runs the compiled main.ts of this worker, as PID 1 (exec).
      const cmd = JSON.parse(final.find((l) => l.instruction === 'CMD')!.args) as string[];
      expect(cmd).toEqual(['sh', '-c', `exec node $WORKER_NODE_ARGS services/${name}/dist/main.js`]);
      // The heap flags every other way of starting a worker uses.
      expect(final.find((l) => l.instruction === 'ENV' && l.args.startsWith('WORKER_NODE_ARGS='))?.args).toBe(`WORKER_NODE_ARGS="${DEFAULT_WORKER_NODE_ARGS}"`);
      expect(existsSync(join(ROOT, 'services', name, 'src', 'main.ts'))).toBe(true);
    });

    it('builds and copies every workspace package the worker runs on into its image', () => {
      const lines = image();
      const final = lines.slice(lines.map((l) => l.instruction).lastIndexOf('FROM'));
      const copies = (stage: typeof lines) => copiedBy(lines, lines.indexOf(stage[0]!), lines.indexOf(stage.at(-1)!) + 1);
      const needed = workspaceClosure(`services/${name}`);
      expect(needed).toEqual(expect.arrayContaining(['packages/client', 'shared']));
      for (const ws of needed) {
        expect(copies(lines)).toContain(`${ws}/ ${ws}/`);
        expect(copies(final)).toContain(`${ws}/package.json ${ws}/`);
        expect(copies(final)).toContain(`--from=build /app/${ws}/dist ${ws}/dist`);
      }
    });

    it('ships the ops CLI on the PATH (docker compose exec ' + name + ' stockflow-ops status)', () => {
      const lines = image();
      const final = lines.slice(lines.map((l) => l.instruction).lastIndexOf('FROM'));
      const copies = (stage: typeof lines) => copiedBy(lines, lines.indexOf(stage[0]!), lines.indexOf(stage.at(-1)!) + 1);
      for (const ws of ['packages/ops', ...workspaceClosure('packages/ops')]) {
        expect(copies(lines)).toContain(`${ws}/ ${ws}/`);
        expect(copies(final)).toContain(`${ws}/package.json ${ws}/`);
        expect(copies(final)).toContain(`--from=build /app/${ws}/dist ${ws}/dist`);
      }
      const runs = final.filter((l) => l.instruction === 'RUN').map((l) => l.args);
      expect(runs.find((r) => /\bnpm ci\b/.test(r))).toContain('--workspace packages/ops');
      const link = runs.map((r) => /ln -s \/app\/(\S+) \/usr\/local\/bin\/stockflow-ops/.exec(r)).find(Boolean);
      expect(link).toBeTruthy();
      const { bin } = JSON.parse(readFileSync(join(ROOT, 'packages/ops/package.json'), 'utf8')) as { bin: Record<string, string> };
      expect(link![1]).toBe(`packages/ops/${bin['stockflow-ops']!}`);
      // What the link points at, built here, is the CLI: --help answers without connecting.
      const help = spawnSync(process.execPath, [join(ROOT, link![1]!), '--help'], { encoding: 'utf8', env: { PATH: process.env.PATH } });
      expect(help.status).toBe(0);
      expect(help.stdout).toMatch(/^stockflow-ops <command>/);
    });
  });

  it('copies every workspace manifest before npm ci in every image (npm ci needs them all to match the lockfile)', () => {
    const workspaces = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { workspaces: string[] }).workspaces;
    for (const file of ['Dockerfile', 'packages/testkit/provider-simulator.Dockerfile']) {
      const lines = dockerfile(file);
      for (const [i, l] of lines.entries()) {
        if (l.instruction !== 'RUN' || !/\bnpm ci\b/.test(l.args)) continue;
        const copied = copiedBy(lines, lines.slice(0, i).map((x) => x.instruction).lastIndexOf('FROM'), i);
        for (const ws of workspaces) expect({ file, copied: copied.includes(`${ws}/package.json ${ws}/`) }).toEqual({ file, copied: true });
      }
    }
  });

  it('runs the HTTP gateway from its own image, with only variables it reads, on the port it checks', () => {
    const svc = compose.services.gateway!;
    expect(svc.build).toEqual({ context: '.', dockerfile: 'Dockerfile', args: { SERVICE: 'gateway', HTTP_PORT: String(gatewaySettings.httpPort.default) } });
    const env = svc.environment ?? {};
    const known = envNames(gatewaySettings);
    expect(Object.keys(env).filter((k) => !known.has(k))).toEqual([]);
    const config = loadGatewayConfig(env);
    for (const url of [config.databaseUrl, config.amqpUrl]) expect(Object.keys(compose.services)).toContain(new URL(url).hostname);
    expect(config.partitions).toBe(loadInventoryConfig(compose.services['inventory-worker']!.environment ?? {}).partitions);
    expect(svc.ports).toEqual([`${config.httpPort}:${config.httpPort}`]);
    expect(svc.healthcheck!.test.join(' ')).toContain(`http://127.0.0.1:${config.httpPort}/readyz`);
    const lines = dockerfile(svc.build!.dockerfile, svc.build!.args);
    const final = lines.slice(lines.map((l) => l.instruction).lastIndexOf('FROM'));
    const copies = final.filter((l) => l.instruction === 'COPY').map((l) => l.args);
    for (const ws of ['services/gateway', ...workspaceClosure('services/gateway')]) expect(copies).toContain(`--from=build /app/${ws}/dist ${ws}/dist`);
    expect(JSON.parse(final.find((l) => l.instruction === 'CMD')!.args)).toEqual(['sh', '-c', 'exec node $WORKER_NODE_ARGS services/gateway/dist/main.js']);
    expect(final.filter((l) => l.instruction === 'USER').at(-1)?.args).toBe('node');
  });

  it('wires the payment worker to the provider simulator and back', () => {
    const pay = loadPaymentConfig(compose.services['payment-worker']!.environment ?? {});
    const sim = compose.services['provider-simulator']!;
    expect(new URL(pay.providerUrl).hostname).toBe('provider-simulator');
    expect(new URL(pay.providerUrl).port).toBe(sim.environment!.PROVIDER_PORT);
    expect(sim.environment!.WEBHOOK_URL).toBe(`http://payment-worker:${pay.httpPort}/webhooks/provider`);
    expect(existsSync(join(ROOT, sim.build!.dockerfile))).toBe(true);
  });

  it('installs exactly the lockfile in every image (npm ci, no fallback to npm install)', () => {
    for (const file of ['Dockerfile', 'packages/testkit/provider-simulator.Dockerfile']) {
      const runs = dockerfile(file).filter((l) => l.instruction === 'RUN' && /\bnpm\b/.test(l.args)).map((l) => l.args);
      expect(runs.filter((r) => /\bnpm ci\b/.test(r))).toHaveLength(2);
      expect(runs.filter((r) => /\bnpm install\b/.test(r))).toEqual([]);
    }
  });

  it('gives RabbitMQ a fixed hostname, since its data lives under its node name', () => {
    expect(compose.services.rabbitmq!.hostname).toBe('rabbitmq');
  });

  it('ships a LICENSE that says what package.json says', () => {
    const license = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { license: string }).license;
    expect(license).toBe('MIT');
    for (const dir of ['.', 'packages/client']) expect(readFileSync(join(ROOT, dir, 'LICENSE'), 'utf8')).toMatch(/^MIT License\n/);
  });

  it('keeps host builds out of the build context', () => {
    const ignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8');
    expect(ignore).toMatch(/node_modules/);
    expect(ignore).toMatch(/dist/);
  });

  describe('the cluster profile', () => {
    const NODES = ['rabbitmq-1', 'rabbitmq-2', 'rabbitmq-3'];
    const nodes = NODES.map((name) => ({ name, svc: compose.services[name]! }));
    /** The `key = value` lines of a rabbitmq.conf (sysctl format). */
    const conf = (file: string) =>
      new Map(
        readFileSync(join(ROOT, file), 'utf8')
          .split('\n')
          .map((l) => l.trim())
          .filter((l) => l && !l.startsWith('#'))
          .map((l) => l.split(/\s*=\s*/, 2) as [string, string]),
      );
    const hostPorts = (svc: Service) => (svc.ports ?? []).map((p) => Number(p.split(':')[0]));

    it('has three RabbitMQ nodes in the profile, and only them; plain `docker compose up` is unchanged', () => {
      const profiled = Object.entries(compose.services).filter(([, s]) => s.profiles !== undefined);
      expect(profiled.map(([n]) => n).sort()).toEqual(NODES);
      for (const { svc } of nodes) expect(svc.profiles).toEqual(['cluster']);
      for (const { svc } of nodes) expect(svc.image).toBe(IMAGES.rabbitmq);
    });

    it('gives every node a fixed hostname of its own and a volume of its own', () => {
      expect(nodes.map((n) => n.svc.hostname)).toEqual(NODES);
      const data = nodes.map((n) => n.svc.volumes!.find((v) => v.endsWith(':/var/lib/rabbitmq'))!.split(':')[0]!);
      expect(new Set(data).size).toBe(3);
      for (const v of data) expect(Object.keys(compose.volumes)).toContain(v);
      expect(data).not.toContain(compose.services.rabbitmq!.volumes![0]!.split(':')[0]);
    });

    it('shares one Erlang cookie between the three nodes', () => {
      const cookies = nodes.map((n) => n.svc.environment?.RABBITMQ_ERLANG_COOKIE);
      expect(cookies[0]).toMatch(/^\S{20,}$/);
      expect(new Set(cookies).size).toBe(1);
    });

    it('forms the cluster by classic config peer discovery listing all three nodes, in every node', () => {
      for (const { svc } of nodes) {
        const mount = svc.volumes!.find((v) => v.includes(':/etc/rabbitmq/conf.d/'));
        expect(mount).toBeDefined();
        const [file, target, mode] = mount!.split(':');
        expect(target).toMatch(/\.conf$/);
        expect(mode).toBe('ro');
        const c = conf(file!);
        expect(c.get('cluster_formation.peer_discovery_backend')).toBe('classic_config');
        const listed = [...c].filter(([k]) => /^cluster_formation\.classic_config\.nodes\.\d+$/.test(k)).map(([, v]) => v);
        expect(listed.sort()).toEqual(nodes.map((n) => `rabbit@${n.svc.hostname!}`).sort());
      }
    });

    it('starts the nodes one after another, each once the one before is healthy', () => {
      expect(nodes[0]!.svc.depends_on).toBeUndefined();
      expect(nodes[1]!.svc.depends_on).toEqual({ 'rabbitmq-1': { condition: 'service_healthy' } });
      expect(nodes[2]!.svc.depends_on).toEqual({ 'rabbitmq-2': { condition: 'service_healthy' } });
      for (const { svc } of nodes) expect(svc.healthcheck?.test.length).toBeGreaterThan(0);
    });

    it('publishes distinct host ports, the ones npm run cluster uses, to each node\'s AMQP and management ports', () => {
      const all = Object.values(compose.services).flatMap(hostPorts);
      expect(new Set(all).size).toBe(all.length);
      const local = nodesOf({ dir: '/unused', prefix: 'x', basePort: DEFAULT_BASE_PORT });
      nodes.forEach(({ svc }, i) => {
        expect(svc.ports).toEqual([`${local[i]!.amqpPort}:5672`, `${local[i]!.managementPort}:15672`]);
      });
    });
  });
});
