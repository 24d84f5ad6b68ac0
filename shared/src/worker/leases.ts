import type { Redis } from 'ioredis';
import type { WorkerKind } from '@stockflow/client/internal';

/**
 * Redis layout of partition ownership (every key under the client's `<namespace>:` prefix):
 *   leases:<kind>            sorted set: instance id → lease expiry (Redis clock, ms)
 *   lease:<kind>:<instance>  JSON MemberInfo, expires with the lease (for `ops status`)
 * Shared by the assigner (writes) and the ops CLI (reads), so both agree on names.
 */
export function membersKey(kind: WorkerKind): string {
  return `leases:${kind}`;
}

export function memberInfoKey(kind: WorkerKind, instance: string): string {
  return `lease:${kind}:${instance}`;
}

/** What an instance says about itself on every heartbeat. */
export interface MemberInfo {
  instance: string;
  /** Partitions with a running consumer (the last applied assignment). */
  owned: number[];
  /** Partitions the rule gives it now (differs from owned while a change is applied). */
  target: number[];
  partitions: number;
  pid: number;
  host: string;
  since: string;
}

/**
 * One heartbeat, atomically and on Redis' clock (instances' clocks may disagree): drop expired
 * leases, renew ours, store our info, return the live members. PEXPIRE on the set lets a
 * deployment whose instances are all gone leave nothing behind.
 */
const HEARTBEAT_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('SET', KEYS[2], ARGV[3], 'PX', ttl)
return redis.call('ZRANGE', KEYS[1], 0, -1)
`;

/** Live members and their leases' remaining time, read without renewing anything. */
const MEMBERS_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {}
local all = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
for i = 1, #all, 2 do
  local left = tonumber(all[i + 1]) - now
  if left > 0 then table.insert(out, all[i]); table.insert(out, tostring(left)) end
end
return out
`;

export async function heartbeat(redis: Redis, kind: WorkerKind, info: MemberInfo, ttlMs: number): Promise<string[]> {
  const members = await redis.eval(HEARTBEAT_LUA, 2, membersKey(kind), memberInfoKey(kind, info.instance), info.instance, String(ttlMs), JSON.stringify(info));
  return (members as string[]).map(String);
}

/** Refreshes only the info (after a change was applied), so `ops status` need not wait a heartbeat. */
export async function publishInfo(redis: Redis, kind: WorkerKind, info: MemberInfo, ttlMs: number): Promise<void> {
  await redis.set(memberInfoKey(kind, info.instance), JSON.stringify(info), 'PX', ttlMs);
}

/** Leaves at once (graceful stop): the others rebalance on their next heartbeat. */
export async function leave(redis: Redis, kind: WorkerKind, instance: string): Promise<void> {
  await redis.multi().zrem(membersKey(kind), instance).del(memberInfoKey(kind, instance)).exec();
}

export interface LiveMember {
  instance: string;
  leaseLeftMs: number;
  info: MemberInfo | undefined;
}

export async function liveMembers(redis: Redis, kind: WorkerKind): Promise<LiveMember[]> {
  const flat = (await redis.eval(MEMBERS_LUA, 1, membersKey(kind))) as string[];
  const out: LiveMember[] = [];
  for (let i = 0; i < flat.length; i += 2) out.push({ instance: String(flat[i]), leaseLeftMs: Number(flat[i + 1]), info: undefined });
  if (out.length === 0) return out;
  const infos = await redis.mget(...out.map((m) => memberInfoKey(kind, m.instance)));
  out.forEach((m, i) => {
    const raw = infos[i];
    if (raw) m.info = JSON.parse(raw) as MemberInfo;
  });
  return out;
}
