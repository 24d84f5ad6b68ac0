import { execFile, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { delimiter, join, resolve } from 'node:path';
import { StockflowError } from '@stockflow/shared';

/**
 * A three-node RabbitMQ cluster on this machine, for what one broker cannot show: quorum
 * queues replicated across nodes, a node stopped under load. Each node is a rabbitmq-server of
 * its own (node name, AMQP, management and distribution ports, data, logs, config) under one
 * directory, and the three share an Erlang cookie that only they use.
 *
 * Isolation from the machine's own broker (rabbit@<host> on 5672, which must keep running):
 * - the cookie is `<dir>/.erlang.cookie`, read by Erlang from $HOME, so every node and every
 *   rabbitmqctl call here runs with HOME=<dir>; /var/lib/rabbitmq's and the user's own
 *   cookies are never read or written;
 * - the servers are started from RabbitMQ's own scripts, not Debian's /usr/sbin wrappers, which
 *   switch to the rabbitmq user and with it to that user's HOME and cookie;
 * - RABBITMQ_CONF_ENV_FILE, RABBITMQ_CONFIG_FILE and the plugins file point into <dir>, so
 *   /etc/rabbitmq (NODENAME=rabbit@…, its listeners) is not read either;
 * - every listener is bound to 127.0.0.1.
 * The nodes register with the machine's epmd (port 4369) like any Erlang node; epmd only maps
 * names to ports. When no epmd runs, the first node starts one, which outlives `down`.
 *
 * Ports, from the AMQP port P of node 1 (default 5701): node N listens for AMQP on P+N-1,
 * management on P+N-1+10000, distribution on P+N-1+20000, the offsets RabbitMQ itself uses
 * between 5672, 15672 and 25672.
 */

export const CLUSTER_SIZE = 3;
export const DEFAULT_BASE_PORT = 5701;
export const DEFAULT_NODE_PREFIX = 'sf-rabbit';
const MANAGEMENT_OFFSET = 10_000;
const DIST_OFFSET = 20_000;
/** Node host part: 3.10 resolves `localhost` here (the machine's broker is rabbit@localhost). */
const NODE_HOST = 'localhost';
const SPEC_FILE = 'cluster.json';
const COOKIE_FILE = '.erlang.cookie';
/** guest may only log in over loopback, which is all these nodes listen on. */
const USER = 'guest';
/** A node boots in 5–15 s here; three booting at once on two cores take longer each. */
const BOOT_TIMEOUT_MS = 120_000;
/** All of `up`: the boots, then two joins of a few rabbitmqctl calls (~1 s each) and a restart. */
const UP_TIMEOUT_MS = 180_000;
const STOP_TIMEOUT_MS = 30_000;
const CTL_TIMEOUT_MS = 120_000;
const POLL_MS = 250;

export class LocalClusterError extends StockflowError {}

/** No usable rabbitmq-server / rabbitmqctl pair on this machine. */
export class RabbitMqNotFoundError extends LocalClusterError {
  constructor(looked: string[]) {
    super(`rabbitmq-server and rabbitmqctl not found (looked in ${looked.join(', ')}); install RabbitMQ (npm run bootstrap does) or pass --bin-dir`);
  }
}

/** A port a node needs is taken by something that is not that node. */
export class PortInUseError extends LocalClusterError {
  constructor(
    readonly port: number,
    readonly node: string,
  ) {
    super(`port ${port} (needed by ${node}) is in use by another process; choose other ports with --base-port`);
  }
}

/** Another Erlang node on this machine has the name a node needs (another cluster directory?). */
export class NodeNameInUseError extends LocalClusterError {
  constructor(readonly node: string) {
    super(`an Erlang node named ${node} already runs on this machine (a cluster in another directory?); choose other names with --prefix`);
  }
}

/** A node's process ended, or never answered, while it was being started. */
export class NodeStartError extends LocalClusterError {
  constructor(
    readonly node: string,
    why: string,
    readonly logTail: string,
  ) {
    super(`${node} did not start: ${why}${logTail ? `\n--- last lines of its output ---\n${logTail}` : ''}`);
  }
}

/** The directory holds something other than this cluster (or another cluster's settings). */
export class ClusterDirError extends LocalClusterError {}

/** The cluster did not reach the state asked for in time. */
export class ClusterTimeoutError extends LocalClusterError {}

/** A rabbitmqctl call failed. */
export class ClusterCommandError extends LocalClusterError {
  constructor(
    readonly args: string[],
    readonly detail: string,
  ) {
    super(`rabbitmqctl ${args.join(' ')} failed: ${detail}`);
  }
}

/** `up` was interrupted (SIGINT, SIGTERM): the nodes it had started were stopped again. */
export class ClusterAbortedError extends LocalClusterError {
  constructor() {
    super('interrupted: the nodes this run started were stopped again');
  }
}

/** What `up` wrote to <dir>/cluster.json, so that later commands need only the directory. */
export interface ClusterSpec {
  dir: string;
  prefix: string;
  basePort: number;
}

export interface NodeSpec {
  index: number;
  name: string;
  amqpPort: number;
  managementPort: number;
  distPort: number;
  dir: string;
}

export interface ClusterUrls {
  /** For AMQP_URL: every node, comma-separated. */
  amqp: string;
  /** One per node; any of them serves the whole cluster's management API. */
  management: string[];
}

export interface NodeStatus {
  name: string;
  amqpPort: number;
  managementPort: number;
  /** The node's Erlang process exists. */
  process: boolean;
  /** RabbitMQ runs in it and answers on its management port. */
  running: boolean;
  /** The cluster as this node sees it (empty when it does not answer). */
  members: { name: string; running: boolean }[];
}

export interface ClusterStatus {
  dir: string;
  /** A cluster was brought up in `dir` and not torn down. */
  exists: boolean;
  nodes: NodeStatus[];
  /** Every node runs and sees all three running. */
  healthy: boolean;
  urls: ClusterUrls | undefined;
}

export interface ClusterCallOptions {
  /** Where the cluster lives (cluster.json, cookie, one sub-directory per node). */
  dir: string;
  /** Directory with rabbitmq-server and rabbitmqctl, when not the usual places. */
  binDir?: string;
  /** Progress, one line at a time. */
  log?: (line: string) => void;
  /** Aborting stops what the call started and makes it throw ClusterAbortedError. */
  signal?: AbortSignal;
}

export interface UpOptions extends ClusterCallOptions {
  basePort?: number;
  prefix?: string;
}

export function nodesOf(spec: ClusterSpec): NodeSpec[] {
  return Array.from({ length: CLUSTER_SIZE }, (_, i) => {
    const amqpPort = spec.basePort + i;
    return { index: i + 1, name: `${spec.prefix}-${i + 1}@${NODE_HOST}`, amqpPort, managementPort: amqpPort + MANAGEMENT_OFFSET, distPort: amqpPort + DIST_OFFSET, dir: join(spec.dir, `node-${i + 1}`) };
  });
}

export function urlsOf(spec: ClusterSpec): ClusterUrls {
  const nodes = nodesOf(spec);
  return {
    amqp: nodes.map((n) => `amqp://${USER}:${USER}@127.0.0.1:${n.amqpPort}`).join(','),
    management: nodes.map((n) => `http://${USER}:${USER}@127.0.0.1:${n.managementPort}/`),
  };
}

/** The highest base port whose distribution ports still fit below 65536. */
export const MAX_BASE_PORT = 65_535 - DIST_OFFSET - (CLUSTER_SIZE - 1);

export function checkBasePort(port: number): void {
  if (!Number.isInteger(port) || port < 1024 || port > MAX_BASE_PORT) throw new ClusterDirError(`base port must be an integer from 1024 to ${MAX_BASE_PORT}, got ${port}`);
}

// --- the spec on disk --------------------------------------------------------------------------

function readSpec(dir: string): ClusterSpec | undefined {
  const file = join(dir, SPEC_FILE);
  if (!existsSync(file)) return undefined;
  const raw = JSON.parse(readFileSync(file, 'utf8')) as Partial<ClusterSpec>;
  if (typeof raw.prefix !== 'string' || typeof raw.basePort !== 'number') throw new ClusterDirError(`${file} is not a cluster description (prefix, basePort)`);
  return { dir, prefix: raw.prefix, basePort: raw.basePort };
}

/** The cluster `dir` holds, or ClusterDirError when `up` never ran there. */
export function loadSpec(dir: string): ClusterSpec {
  const spec = readSpec(resolve(dir));
  if (!spec) throw new ClusterDirError(`no cluster in ${resolve(dir)} (no ${SPEC_FILE}): run up first`);
  return spec;
}

/** The cluster of `opts.dir`, made (directory and cluster.json) when there is none yet. */
function createSpec(opts: UpOptions): { spec: ClusterSpec; created: boolean } {
  const dir = resolve(opts.dir);
  const wanted: ClusterSpec = { dir, prefix: opts.prefix ?? DEFAULT_NODE_PREFIX, basePort: opts.basePort ?? DEFAULT_BASE_PORT };
  checkBasePort(wanted.basePort);
  if (!/^[a-z][a-z0-9-]{0,40}$/.test(wanted.prefix)) throw new ClusterDirError(`node name prefix must be lower-case letters, digits and dashes, got '${wanted.prefix}'`);
  const existing = readSpec(dir);
  if (existing) {
    // Given flags that differ from the running cluster's: refuse rather than start a second one.
    if ((opts.basePort !== undefined && opts.basePort !== existing.basePort) || (opts.prefix !== undefined && opts.prefix !== existing.prefix)) {
      throw new ClusterDirError(`${dir} holds a cluster of ${existing.prefix}-1..${CLUSTER_SIZE} on base port ${existing.basePort}; run down first, or use another --dir`);
    }
    return { spec: existing, created: false };
  }
  if (existsSync(dir) && readdirSync(dir).length > 0) throw new ClusterDirError(`${dir} exists and is not a cluster directory; choose an empty or new --dir`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, SPEC_FILE), JSON.stringify({ prefix: wanted.prefix, basePort: wanted.basePort }, null, 2) + '\n');
  return { spec: wanted, created: true };
}

/** The cluster's own cookie, made once; Erlang refuses a cookie file others can read. */
function ensureCookie(dir: string): void {
  const file = join(dir, COOKIE_FILE);
  if (existsSync(file)) return;
  writeFileSync(file, randomBytes(24).toString('hex'), { mode: 0o400, flag: 'wx' });
}

/** Each node's files, rewritten at every start so a changed layout reaches existing nodes. */
function writeNodeFiles(node: NodeSpec): void {
  mkdirSync(join(node.dir, 'mnesia'), { recursive: true });
  mkdirSync(join(node.dir, 'log'), { recursive: true });
  writeFileSync(
    join(node.dir, 'rabbitmq.conf'),
    [
      `# ${node.name}: written by the local cluster script at every start.`,
      `listeners.tcp.local = 127.0.0.1:${node.amqpPort}`,
      `management.tcp.ip = 127.0.0.1`,
      `management.tcp.port = ${node.managementPort}`,
      '',
    ].join('\n'),
  );
  writeFileSync(join(node.dir, 'enabled_plugins'), '[rabbitmq_management].\n');
  // Sourced by rabbitmq-server before it starts Erlang, in place of /etc/rabbitmq's. Quorum
  // queues keep segment files open: the soft limit of 1024 descriptors is too low for many.
  writeFileSync(join(node.dir, 'rabbitmq-env.conf'), 'ulimit -n "$(ulimit -Hn)" 2>/dev/null || true\n');
}

// --- binaries and environment --------------------------------------------------------------------

interface Binaries {
  server: string;
  ctl: string;
}

/**
 * RabbitMQ's own scripts. Debian's /usr/sbin/rabbitmq-server and rabbitmqctl are wrappers
 * that, run as root, `su` to the rabbitmq user: HOME (and so the cookie) would be the machine
 * broker's. /usr/lib/rabbitmq/bin holds the real ones there; elsewhere (generic unix, Homebrew)
 * the scripts on the PATH are the real ones.
 */
export function findRabbitMq(binDir?: string): Binaries {
  const dirs = binDir ? [binDir] : ['/usr/lib/rabbitmq/bin', ...(process.env.PATH ?? '').split(delimiter).filter(Boolean)];
  for (const d of dirs) {
    const server = join(d, 'rabbitmq-server');
    const ctl = join(d, 'rabbitmqctl');
    if (!existsSync(server) || !existsSync(ctl)) continue;
    if (isSuWrapper(server) || isSuWrapper(ctl)) continue;
    return { server, ctl };
  }
  throw new RabbitMqNotFoundError(binDir ? [binDir] : ['/usr/lib/rabbitmq/bin', 'PATH']);
}

function isSuWrapper(file: string): boolean {
  try {
    if (statSync(file).size > 64 * 1024) return false;
    return /\bsu rabbitmq\b/.test(readFileSync(file, 'utf8'));
  } catch {
    return false;
  }
}

/**
 * The environment of rabbitmqctl calls on a node: the cluster's cookie (HOME) and the node's
 * env file instead of /etc/rabbitmq's. Inherited RABBITMQ_* and ERL_*FLAGS are dropped: they
 * belong to whatever broker the caller's shell is set up for.
 */
function ctlEnv(spec: ClusterSpec, node: NodeSpec): NodeJS.ProcessEnv {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('RABBITMQ_') && !/^ERL_[AZ]?FLAGS$/.test(k) && k !== NODE_MARK));
  return { ...inherited, HOME: spec.dir, RABBITMQ_CONF_ENV_FILE: join(node.dir, 'rabbitmq-env.conf'), ERL_EPMD_ADDRESS: '127.0.0.1' };
}

/** The environment of a node's server. */
function nodeEnv(spec: ClusterSpec, node: NodeSpec): NodeJS.ProcessEnv {
  return {
    ...ctlEnv(spec, node),
    [NODE_MARK]: `${spec.dir}|${node.name}`,
    RABBITMQ_NODENAME: node.name,
    RABBITMQ_NODE_PORT: String(node.amqpPort),
    RABBITMQ_DIST_PORT: String(node.distPort),
    RABBITMQ_CONFIG_FILE: join(node.dir, 'rabbitmq.conf'),
    RABBITMQ_ADVANCED_CONFIG_FILE: join(node.dir, 'advanced.config'),
    RABBITMQ_ENABLED_PLUGINS_FILE: join(node.dir, 'enabled_plugins'),
    RABBITMQ_MNESIA_BASE: join(node.dir, 'mnesia'),
    RABBITMQ_LOG_BASE: join(node.dir, 'log'),
    RABBITMQ_PID_FILE: join(node.dir, 'rabbitmq.pid'),
    // The distribution listener too, like every other listener of these nodes.
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '-kernel inet_dist_use_interface {127,0,0,1}',
  };
}

// --- small I/O helpers ---------------------------------------------------------------------------

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((res, rej) => {
    if (signal?.aborted) return rej(new ClusterAbortedError());
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      res();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      rej(new ClusterAbortedError());
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function portFree(port: number): Promise<boolean> {
  return new Promise((res) => {
    const srv = createServer();
    srv.once('error', () => res(false));
    srv.listen({ port, host: '127.0.0.1', exclusive: true }, () => srv.close(() => res(true)));
  });
}

function portAnswers(port: number): Promise<boolean> {
  return new Promise((res) => {
    const sock = createConnection({ port, host: '127.0.0.1' });
    sock.setTimeout(1000);
    const done = (ok: boolean) => {
      sock.destroy();
      res(ok);
    };
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
    sock.once('timeout', () => done(false));
  });
}

async function managementGet<T>(node: NodeSpec, path: string): Promise<T | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${node.managementPort}${path}`, {
      headers: { authorization: 'Basic ' + Buffer.from(`${USER}:${USER}`).toString('base64') },
      signal: AbortSignal.timeout(3000),
    });
    if (!res.ok) return undefined;
    return (await res.json()) as T;
  } catch {
    return undefined;
  }
}

/** The node answers on its management port as itself (not some other broker on that port). */
async function appRunning(node: NodeSpec): Promise<boolean> {
  const overview = await managementGet<{ node?: string }>(node, '/api/overview');
  return overview?.node === node.name;
}

/** The cluster as `node` sees it: every member and whether it runs. */
async function membersSeenBy(node: NodeSpec): Promise<{ name: string; running: boolean }[] | undefined> {
  const nodes = await managementGet<{ name: string; running: boolean }[]>(node, '/api/nodes');
  return nodes?.map((n) => ({ name: n.name, running: n.running })).sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * Marks a node's processes (rabbitmq-server's shell, beam.smp and its helpers inherit it):
 * `<dir>|<node name>`. rabbitmq-server does not exec into Erlang but waits for it, so the pid
 * spawn() returns is a shell; the marker finds them all, and never a process of anything else.
 */
const NODE_MARK = 'STOCKFLOW_CLUSTER_NODE';
const HAS_PROC = existsSync('/proc/self/environ');

interface NodeProcess {
  pid: number;
  /** The Erlang VM itself (not the start script or a helper it runs). */
  beam: boolean;
}

/**
 * epmd, when a node of the cluster had to start it, inherits the node's environment, but it is
 * the machine's: every Erlang node here registers with it, and it must outlive the cluster.
 */
function isEpmd(executable: string): boolean {
  return /(^|\/)epmd$/.test(executable);
}

/** Processes whose marker starts with `prefix` (never epmd), with the marker's value. */
function markedProcesses(prefix: string): (NodeProcess & { mark: string })[] {
  const needle = `${NODE_MARK}=${prefix}`;
  const out: (NodeProcess & { mark: string })[] = [];
  if (HAS_PROC) {
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      let env: string;
      let cmd: string;
      try {
        env = readFileSync(`/proc/${entry}/environ`, 'utf8');
        cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      } catch {
        continue; // gone meanwhile, or another user's
      }
      // A zombie has neither: it is gone for every purpose here.
      const at = `\0${env}`.indexOf(`\0${needle}`);
      if (at < 0 || cmd.length === 0 || isEpmd(cmd.split('\0')[0]!)) continue;
      out.push({ pid: Number(entry), beam: cmd.includes('beam'), mark: env.slice(at + NODE_MARK.length + 1).split('\0')[0]! });
    }
    return out;
  }
  // No /proc (macOS): ps with `e` prints each process's environment after its arguments.
  const ps = spawnSync('ps', ['eww', '-axo', 'pid=,command='], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  for (const line of ps.stdout.split('\n')) {
    const m = /^\s*(\d+)\s+(.*)$/.exec(line);
    const at = m?.[2]!.indexOf(needle) ?? -1;
    if (!m || at < 0 || isEpmd(m[2]!.split(' ')[0]!)) continue;
    out.push({ pid: Number(m[1]), beam: m[2]!.includes('beam'), mark: m[2]!.slice(at + NODE_MARK.length + 1).split(' ')[0]! });
  }
  return out;
}

function processesOf(spec: ClusterSpec, node: NodeSpec): NodeProcess[] {
  const mark = `${spec.dir}|${node.name}`;
  return markedProcesses(mark).filter((p) => p.mark === mark);
}

/** Every process of the nodes of the cluster in `dir` still alive, for `down` and tests. */
export function clusterProcesses(dir: string): number[] {
  return markedProcesses(`${resolve(dir)}|`).map((p) => p.pid);
}

function tail(file: string, lines = 25): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

function logTail(node: NodeSpec): string {
  const out = tail(join(node.dir, 'stdout.log'), 10);
  const log = tail(join(node.dir, 'log', `${node.name}.log`), 15);
  return [out, log].filter(Boolean).join('\n');
}

function ctl(bins: Binaries, spec: ClusterSpec, node: NodeSpec, args: string[], signal?: AbortSignal): Promise<string> {
  const full = ['-n', node.name, ...args];
  return new Promise((res, rej) => {
    execFile(bins.ctl, full, { env: ctlEnv(spec, node), timeout: CTL_TIMEOUT_MS, signal, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (signal?.aborted) return rej(new ClusterAbortedError());
      if (err) return rej(new ClusterCommandError(full, (stderr || stdout || err.message).trim().split('\n').slice(-5).join(' ')));
      res(stdout);
    });
  });
}

// --- one node --------------------------------------------------------------------------------------

/** Starts the node's server detached (it outlives this process) with its output in stdout.log. */
function spawnNode(bins: Binaries, spec: ClusterSpec, node: NodeSpec): void {
  writeNodeFiles(node);
  const out = openSync(join(node.dir, 'stdout.log'), 'a');
  try {
    const child = spawn(bins.server, [], { env: nodeEnv(spec, node), cwd: node.dir, detached: true, stdio: ['ignore', out, out] });
    child.on('error', () => undefined); // a failed exec shows as a node whose processes are gone
    child.unref();
  } finally {
    closeSync(out);
  }
}

/**
 * The short names of the Erlang nodes registered with this machine's epmd (its NAMES request:
 * a 2-byte length and 'n'; the answer is epmd's port, then a line per node). No epmd: none.
 */
function epmdNames(): Promise<Set<string>> {
  return new Promise((res) => {
    const sock = createConnection({ port: Number(process.env.ERL_EPMD_PORT) || 4369, host: '127.0.0.1' });
    const chunks: Buffer[] = [];
    sock.setTimeout(3000);
    sock.once('connect', () => sock.write(Buffer.from([0, 1, 110])));
    sock.on('data', (d: Buffer) => chunks.push(d));
    sock.once('close', () => {
      const text = Buffer.concat(chunks).subarray(4).toString('utf8');
      res(new Set([...text.matchAll(/^name (\S+) at port \d+$/gm)].map((m) => m[1]!)));
    });
    sock.once('error', () => undefined);
    sock.once('timeout', () => sock.destroy());
  });
}

/** Nothing else has the node's ports or its name. */
async function checkFree(node: NodeSpec, names: Set<string>): Promise<void> {
  if (names.has(node.name.split('@')[0]!)) throw new NodeNameInUseError(node.name);
  for (const port of [node.amqpPort, node.managementPort, node.distPort]) if (!(await portFree(port))) throw new PortInUseError(port, node.name);
}

/** Until the node's RabbitMQ answers (AMQP and management); NodeStartError when its process ends first. */
async function awaitBoot(spec: ClusterSpec, node: NodeSpec, deadline: number, signal?: AbortSignal): Promise<void> {
  for (;;) {
    if ((await appRunning(node)) && (await portAnswers(node.amqpPort))) return;
    if (processesOf(spec, node).length === 0) throw new NodeStartError(node.name, 'its process exited', logTail(node));
    if (Date.now() > deadline) throw new NodeStartError(node.name, `no answer on ports ${node.amqpPort} and ${node.managementPort} in time`, logTail(node));
    await sleep(POLL_MS, signal);
  }
}

async function waitGone(spec: ClusterSpec, node: NodeSpec, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (processesOf(spec, node).length === 0) return true;
    if (Date.now() > deadline) return false;
    await sleep(100);
  }
}

function signalAll(procs: NodeProcess[], signal: NodeJS.Signals): void {
  for (const p of procs) {
    try {
      process.kill(p.pid, signal);
    } catch {
      // gone meanwhile
    }
  }
}

/**
 * Stops a node's processes: SIGTERM to the Erlang VM (RabbitMQ shuts down in order, closing
 * client connections; before the VM exists, to the start script), SIGKILL to all of them after
 * STOP_TIMEOUT_MS, or at once with `kill` (a crash). Returns whether there was any.
 */
async function stopProcess(spec: ClusterSpec, node: NodeSpec, kill = false): Promise<boolean> {
  const procs = processesOf(spec, node);
  if (procs.length === 0) return false;
  const beam = procs.filter((p) => p.beam);
  signalAll(kill ? procs : beam.length > 0 ? beam : procs, kill ? 'SIGKILL' : 'SIGTERM');
  if (!(await waitGone(spec, node, kill ? 5_000 : STOP_TIMEOUT_MS))) {
    signalAll(processesOf(spec, node), 'SIGKILL');
    await waitGone(spec, node, 5_000);
  }
  return true;
}

/** The node's Erlang VM runs (whether or not RabbitMQ runs in it). */
function vmAlive(spec: ClusterSpec, node: NodeSpec): boolean {
  return processesOf(spec, node).some((p) => p.beam);
}

// --- the commands ------------------------------------------------------------------------------------

/**
 * Brings the three nodes up and clustered, from whatever is there: nodes not running are started
 * (in parallel), nodes not yet in node 1's cluster join it, and it returns once every node sees
 * all three running. Running it again on a healthy cluster changes nothing. When it fails or is
 * aborted, the nodes this call started are stopped again.
 */
export async function up(opts: UpOptions): Promise<{ spec: ClusterSpec; urls: ClusterUrls; started: string[]; joined: string[] }> {
  const log = opts.log ?? (() => undefined);
  const bins = findRabbitMq(opts.binDir);
  const { spec, created } = createSpec(opts);
  ensureCookie(spec.dir);
  const nodes = nodesOf(spec);
  const started: NodeSpec[] = [];
  const deadline = Date.now() + UP_TIMEOUT_MS;
  // Ends the waits and rabbitmqctl calls still running when one step failed.
  const failed = new AbortController();
  const signal = opts.signal ? AbortSignal.any([opts.signal, failed.signal]) : failed.signal;
  try {
    if (signal.aborted) throw new ClusterAbortedError();
    const down: NodeSpec[] = [];
    const appStopped: NodeSpec[] = [];
    for (const node of nodes) {
      if (await appRunning(node)) continue;
      (vmAlive(spec, node) ? appStopped : down).push(node);
    }
    const names = await epmdNames();
    for (const node of down) await checkFree(node, names);
    for (const node of down) {
      log(`starting ${node.name} (AMQP ${node.amqpPort}, management ${node.managementPort}, distribution ${node.distPort})`);
      spawnNode(bins, spec, node);
      started.push(node);
    }
    await Promise.all([
      ...down.map((n) => awaitBoot(spec, n, deadline, signal)),
      ...appStopped.map(async (n) => {
        // The VM runs without RabbitMQ in it (stop_app): start the app again.
        log(`starting RabbitMQ again in ${n.name}`);
        await ctl(bins, spec, n, ['start_app'], signal).catch((err: unknown) => {
          if (err instanceof ClusterAbortedError) throw err;
        });
        await awaitBoot(spec, n, deadline, signal);
      }),
    ]);
    if (down.length + appStopped.length > 0) log(`${[...down, ...appStopped].map((n) => n.name).join(', ')} answering`);

    const [first, ...rest] = nodes as [NodeSpec, ...NodeSpec[]];
    const members = (await membersSeenBy(first)) ?? [];
    const joining = rest.filter((n) => !members.some((m) => m.name === n.name));
    if (joining.length > 0) {
      log(`joining ${joining.map((n) => n.name).join(', ')} to ${first.name}`);
      await Promise.all(joining.map((n) => ctl(bins, spec, n, ['stop_app'], signal)));
      // One at a time: two nodes changing the cluster's membership at once can trip over each other.
      for (const node of joining) await joinCluster(bins, spec, node, first, log, signal);
      await Promise.all(joining.map((n) => ctl(bins, spec, n, ['start_app'], signal)));
    }
    await awaitClustered(spec, nodes, deadline, signal);
    return { spec, urls: urlsOf(spec), started: started.map((n) => n.name), joined: joining.map((n) => n.name) };
  } catch (err) {
    failed.abort();
    if (started.length > 0) {
      log(`stopping the nodes this run started: ${started.map((n) => n.name).join(', ')}`);
      await Promise.all(started.map((n) => stopProcess(spec, n).catch(() => undefined)));
    }
    // A cluster this call began is not left half made: the next up starts afresh.
    if (created) rmSync(spec.dir, { recursive: true, force: true });
    if (opts.signal?.aborted) throw new ClusterAbortedError();
    throw err;
  }
}

/** `node` (its app stopped) joins the cluster of `first`. */
async function joinCluster(bins: Binaries, spec: ClusterSpec, node: NodeSpec, first: NodeSpec, log: (line: string) => void, signal?: AbortSignal): Promise<void> {
  try {
    // join_cluster resets the node itself before joining.
    await ctl(bins, spec, node, ['join_cluster', first.name], signal);
  } catch (err) {
    if (err instanceof ClusterAbortedError) throw err;
    // A node that still counts itself in another cluster: make it forget, then join.
    log(`${node.name} could not join as it is (${(err as Error).message}); resetting it`);
    await ctl(bins, spec, node, ['reset'], signal).catch(() => ctl(bins, spec, node, ['force_reset'], signal));
    await ctl(bins, spec, node, ['join_cluster', first.name], signal);
  }
}

/** Until every one of `nodes` answers and sees all of the cluster's nodes running. */
async function awaitClustered(spec: ClusterSpec, nodes: NodeSpec[], deadline: number, signal?: AbortSignal): Promise<void> {
  const all = nodesOf(spec).map((n) => n.name).sort();
  for (;;) {
    const views = await Promise.all(nodes.map((n) => membersSeenBy(n)));
    if (views.every((v) => v !== undefined && sameNames(v.filter((m) => m.running).map((m) => m.name), all))) return;
    if (Date.now() > deadline) {
      const seen = views.map((v, i) => `${nodes[i]!.name}: ${v ? v.filter((m) => m.running).map((m) => m.name).join(', ') || 'none running' : 'no answer'}`);
      throw new ClusterTimeoutError(`the nodes did not all see ${all.length} running members in time (${seen.join('; ')})`);
    }
    await sleep(POLL_MS, signal);
  }
}

function sameNames(a: string[], b: string[]): boolean {
  return a.length === b.length && [...a].sort().every((x, i) => x === b[i]);
}

/** Each node's process, app and view of the cluster. */
export async function status(opts: Pick<ClusterCallOptions, 'dir'>): Promise<ClusterStatus> {
  const dir = resolve(opts.dir);
  const spec = readSpec(dir);
  if (!spec) return { dir, exists: false, nodes: [], healthy: false, urls: undefined };
  const all = nodesOf(spec).map((n) => n.name).sort();
  const nodes = await Promise.all(
    nodesOf(spec).map(async (node): Promise<NodeStatus> => {
      const running = await appRunning(node);
      return { name: node.name, amqpPort: node.amqpPort, managementPort: node.managementPort, process: vmAlive(spec, node), running, members: running ? ((await membersSeenBy(node)) ?? []) : [] };
    }),
  );
  const healthy = nodes.every((n) => n.running && sameNames(n.members.filter((m) => m.running).map((m) => m.name), all));
  return { dir, exists: true, nodes, healthy, urls: urlsOf(spec) };
}

function nodeAt(spec: ClusterSpec, index: number): NodeSpec {
  const node = nodesOf(spec)[index - 1];
  if (!Number.isInteger(index) || !node) throw new ClusterDirError(`no node ${index}: nodes are 1 to ${CLUSTER_SIZE}`);
  return node;
}

/**
 * Stops node `index` (1–3) and leaves its data, so startNode brings it back as a member. With
 * `kill`, SIGKILL: the node gets no chance to hand over anything (a crash). Returns whether it
 * was running.
 */
export async function stopNode(opts: Pick<ClusterCallOptions, 'dir' | 'log'>, index: number, how: { kill?: boolean } = {}): Promise<boolean> {
  const spec = loadSpec(opts.dir);
  const node = nodeAt(spec, index);
  const was = await stopProcess(spec, node, how.kill);
  opts.log?.(was ? `${node.name} stopped${how.kill ? ' (killed)' : ''}` : `${node.name} was not running`);
  return was;
}

/**
 * Starts node `index` (1–3) again with its data and waits until every running node sees it
 * running in the cluster. A node that runs already is left alone.
 */
export async function startNode(opts: ClusterCallOptions, index: number): Promise<void> {
  const spec = loadSpec(opts.dir);
  const node = nodeAt(spec, index);
  const bins = findRabbitMq(opts.binDir);
  const deadline = Date.now() + BOOT_TIMEOUT_MS;
  let spawned = false;
  try {
    if (!(await appRunning(node))) {
      if (vmAlive(spec, node)) {
        await ctl(bins, spec, node, ['start_app'], opts.signal).catch(() => undefined);
      } else {
        await checkFree(node, await epmdNames());
        opts.log?.(`starting ${node.name}`);
        spawnNode(bins, spec, node);
        spawned = true;
      }
      await awaitBoot(spec, node, deadline, opts.signal);
    }
    // The others that run must see it back; a node that is down sees nothing.
    const running: NodeSpec[] = [];
    for (const n of nodesOf(spec)) if (await appRunning(n)) running.push(n);
    await awaitMember(running, node, deadline, opts.signal);
    opts.log?.(`${node.name} running in the cluster`);
  } catch (err) {
    if (spawned) await stopProcess(spec, node).catch(() => undefined);
    throw err;
  }
}

async function awaitMember(observers: NodeSpec[], node: NodeSpec, deadline: number, signal?: AbortSignal): Promise<void> {
  for (;;) {
    const views = await Promise.all(observers.map((o) => membersSeenBy(o)));
    if (views.every((v) => v?.some((m) => m.name === node.name && m.running))) return;
    if (Date.now() > deadline) throw new ClusterTimeoutError(`${node.name} did not show as running in the cluster in time`);
    await sleep(POLL_MS, signal);
  }
}

/**
 * Stops every node of the cluster in `dir` and deletes the directory. Nothing there: nothing
 * to do. A directory that is not a cluster's is refused, never deleted.
 */
export async function down(opts: Pick<ClusterCallOptions, 'dir' | 'log'>): Promise<{ stopped: string[]; removed: boolean }> {
  const log = opts.log ?? (() => undefined);
  const dir = resolve(opts.dir);
  if (!existsSync(dir)) return { stopped: [], removed: false };
  const spec = readSpec(dir);
  if (!spec) {
    if (readdirSync(dir).length > 0) throw new ClusterDirError(`${dir} is not a cluster directory (no ${SPEC_FILE}); not deleting it`);
    rmSync(dir, { recursive: true, force: true });
    return { stopped: [], removed: true };
  }
  const stopped: string[] = [];
  // Killed, not shut down in order: their data is deleted next, so an orderly shutdown (some
  // 6 s a node) would save nothing.
  await Promise.all(
    nodesOf(spec).map(async (node) => {
      if (await stopProcess(spec, node, true)) {
        stopped.push(node.name);
        log(`${node.name} stopped`);
      }
    }),
  );
  // Anything else of this cluster's (a node of an older layout of the directory).
  const strays = clusterProcesses(dir);
  for (const pid of strays) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
  if (strays.length > 0) await sleep(500);
  rmSync(dir, { recursive: true, force: true });
  return { stopped: stopped.sort(), removed: true };
}
