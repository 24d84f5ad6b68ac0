import type { InvariantResult } from '../checker/types';
import type { FaultRecord } from '../faults/injector';
import type { NodeOutage } from '../faults/node-actions';
import type { FaultKind } from '../faults/plan';
import type { QuiescenceResult } from '../run/quiescence';
import type { Sample } from '../sampling/sampler';
import type { SoakReport } from './soak';

/**
 * What a flood found. The first fields are the shape the issue promises for --json; the rest
 * are extra detail (allowed).
 */
export interface FloodReport {
  ok: boolean;
  /** Distinct commands of the flood proper (setup and duplicates excluded). */
  commands: number;
  /** Re-publishes of a command with its id (concurrent and late). */
  duplicates: number;
  /** Faults injected, per kind. */
  faults: Record<FaultKind, number>;
  invariants: InvariantResult[];
  /** Commands per second, first publish to last command applied. */
  throughput: number;
  latency_ms: { p50: number; p99: number; p90: number; max: number; samples: number };

  seed: string;
  tag: string;
  namespace: string;
  mode: 'owned' | 'attached';
  setupCommands: number;
  duplicatesAbsorbed: number;
  /** Worker incarnations that died right after a commit, before the ack (armed kills). */
  crashesAfterCommit: number;
  restarts: number;
  deadLetters: number;
  events: number;
  rates: { publishedPerSec: number; eventsPerSec: number };
  publisherRetries: number;
  /** Declines, timeouts and async captures the provider could not be told about in time. */
  providerPlansLost: number;
  quiescence: QuiescenceResult;
  durations_ms: { setup: number; publish: number; drain: number; check: number; total: number };
  /**
   * The outbox backlog (rows of every service not yet published): its peak, and how long after
   * the last publish it took to empty (null: it never did before quiescence was declared).
   */
  outbox: { peakRows: number; drainedAfterPublishS: number | null };
  /**
   * Each RabbitMQ node a node or rolling-restart fault took down, and how long the partition
   * queues it led made no progress (the longest gap between their inbox rows), beside the same
   * figure for the partitions other nodes led. Empty on one broker.
   */
  nodeOutages: NodeOutage[];
  reproduce: string;
  faultLog: FaultRecord[];
  runDir: string;
  /** Probe figures, per-window throughput and latency, and (for --duration runs) the leak verdicts. */
  soak: SoakReport;
}

/** Time series behind the HTML charts (kept out of the JSON). */
export interface ReportSeries {
  start: number;
  publishEnd: number;
  end: number;
  samples: Sample[];
  publishTimes: number[];
  effectTimes: number[];
  latencies: number[];
}
