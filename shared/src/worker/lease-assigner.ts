import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import type { WorkerKind } from '@stockflow/client/internal';
import type { Logger } from '../logger';
import { redisReady } from '../redis/client';
import type { PartitionAssigner } from './assignment';
import { heartbeat, leave, publishInfo, type MemberInfo } from './leases';
import { assignPartitions } from './rendezvous';

export interface LeaseAssignerOptions {
  redis: Redis | undefined;
  kind: WorkerKind;
  instance: string;
  partitions: number;
  leaseTtlMs: number;
  heartbeatMs: number;
  log: Logger;
  /** Metrics: live members after each heartbeat, failed heartbeats, applied changes. */
  onMembers?(count: number): void;
  onHeartbeatFailure?(): void;
  onRebalance?(): void;
}

const same = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((p, i) => p === b[i]);

/**
 * Partition ownership by Redis leases. Every HEARTBEAT_MS an instance renews its lease and
 * reads the live members; the partitions are then assigned by `assignPartitions` (rendezvous
 * ranking, balanced to ±1), which every instance computes identically from the same list.
 * Join, leave and a missed lease (LEASE_TTL_MS) all show up as a changed member list.
 *
 * Redis only decides who *should* consume; it never makes consuming safe. Two instances may
 * briefly both believe they own a partition (one has not seen the change yet, or it is paused
 * and its lease ran out): single active consumer lets only one of them receive, the inbox
 * claim and the row locks make a stale one's transaction a no-op, and Postgres ends a paused
 * one's transaction (idle_in_transaction_session_timeout).
 *
 * MUST hold:
 * - a failed heartbeat keeps the current assignment: a Redis blink must not stop every
 *   partition of every instance at once;
 * - applying a change never blocks heartbeats (a long drain must not cost the lease);
 * - changes are applied one at a time, always the latest wanted set;
 * - stop() leaves the member set at once, so others take over without waiting for expiry.
 */
export class LeaseAssigner implements PartitionAssigner {
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private onChange: ((owned: number[]) => Promise<void>) | undefined;
  private wanted: number[] | undefined;
  private requested: number[] | undefined;
  private applied: number[] = [];
  private applying: Promise<void> | undefined;
  private lastOk = 0;
  private members = 0;
  private degraded = false;
  private readonly since = new Date().toISOString();
  private beating: Promise<void> = Promise.resolve();

  constructor(private readonly opts: LeaseAssignerOptions) {}

  /** A heartbeat succeeded within the lease time: our view of the members is current. */
  get settled(): boolean {
    return this.running && this.lastOk > 0 && Date.now() - this.lastOk < this.opts.leaseTtlMs;
  }

  /** More members than partitions: owning nothing is this instance's proper share. */
  get spare(): boolean {
    return this.members > this.opts.partitions && (this.requested?.length ?? 0) === 0;
  }

  get target(): readonly number[] {
    return this.requested ?? [];
  }

  /**
   * Registers and applies the first assignment. When Redis does not answer for a whole lease
   * time, consumes every partition instead (single active consumer arbitrates between
   * instances, as without leases): a deployment whose Redis is down still makes progress.
   */
  async start(onChange: (owned: number[]) => Promise<void>): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.onChange = onChange;
    const deadline = Date.now() + this.opts.leaseTtlMs;
    while (this.running && !(await this.beat()) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, Math.min(200, this.opts.heartbeatMs)));
    }
    if (this.running && this.lastOk === 0) {
      this.degraded = true;
      this.opts.log.warn({ leaseTtlMs: this.opts.leaseTtlMs }, 'redis unreachable: consuming every partition until leases work (single active consumer arbitrates)');
      this.request(Array.from({ length: this.opts.partitions }, (_, i) => i));
    }
    await this.applying;
    this.schedule();
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    clearTimeout(this.timer);
    await this.beating;
    const redis = this.opts.redis;
    if (redisReady(redis)) {
      await leave(redis, this.opts.kind, this.opts.instance).catch((err: unknown) => this.opts.log.warn({ err: (err as Error).message }, 'could not leave the lease set; others take over when the lease expires'));
    }
  }

  private schedule(): void {
    if (!this.running) return;
    this.timer = setTimeout(() => {
      this.beating = this.beat().then(() => this.schedule());
    }, this.opts.heartbeatMs);
  }

  /** One heartbeat and re-evaluation. Returns whether Redis answered. */
  private async beat(): Promise<boolean> {
    const { redis, kind, leaseTtlMs, log } = this.opts;
    const info = this.info();
    let members: string[];
    try {
      if (!redisReady(redis)) throw new Error(`redis not connected (${this.opts.redis?.status ?? 'none'})`);
      members = await heartbeat(redis, kind, info, leaseTtlMs);
    } catch (err) {
      this.opts.onHeartbeatFailure?.();
      // Keep what we have; say so once per outage.
      if (this.lastOk !== 0 && Date.now() - this.lastOk >= leaseTtlMs && !this.degraded) {
        this.degraded = true;
        log.warn({ err: (err as Error).message, owned: this.applied }, 'lease heartbeats failing for a whole lease time: keeping current partitions (others may take them over; single active consumer and the inbox keep that safe)');
      }
      return false;
    }
    if (!this.running) return true;
    if (this.degraded) log.info('lease heartbeats work again');
    this.degraded = false;
    this.lastOk = Date.now();
    this.members = members.length;
    this.opts.onMembers?.(members.length);
    this.request(assignPartitions(members, this.opts.partitions).get(this.opts.instance) ?? []);
    return true;
  }

  private info(): MemberInfo {
    const { instance, partitions } = this.opts;
    return { instance, owned: this.applied, target: this.requested ?? [], partitions, pid: process.pid, host: hostname(), since: this.since };
  }

  private request(target: number[]): void {
    if (this.requested && same(this.requested, target)) return;
    this.requested = target;
    this.wanted = target;
    this.applying ??= this.applyLoop();
  }

  private async applyLoop(): Promise<void> {
    while (this.wanted && this.running) {
      const target = this.wanted;
      this.wanted = undefined;
      try {
        await this.onChange!(target);
        if (!same(this.applied, target)) this.opts.onRebalance?.();
        this.applied = target;
        const redis = this.opts.redis;
        if (redisReady(redis) && this.lastOk > 0) await publishInfo(redis, this.opts.kind, this.info(), this.opts.leaseTtlMs).catch(() => undefined);
      } catch (err) {
        this.opts.log.error({ err: (err as Error).message, target }, 'applying partition ownership failed; retrying on the next heartbeat');
        this.requested = undefined;
      }
    }
    this.applying = undefined;
  }
}
