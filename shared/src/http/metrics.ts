import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Every metric a worker exports. One registry per worker (not prom-client's global one), so
 * several workers in one test process do not collide. Names are documented in
 * docs/operations.md with alert suggestions.
 */
export class WorkerMetrics {
  readonly registry = new Registry();
  readonly processed: Counter<'type' | 'outcome'>;
  readonly duplicates: Counter<'type' | 'via'>;
  readonly idReused: Counter<'type'>;
  readonly deadLettered: Counter<'reason'>;
  readonly redeliveries: Counter;
  readonly sequenceGaps: Counter;
  readonly latency: Histogram<'type'>;
  readonly batchSize: Histogram;
  readonly mergedBatches: Histogram;
  readonly lockWait: Histogram;
  readonly stage: Histogram<'stage'>;
  /** stage's series, bound once: observed several times per message. */
  readonly stages: Record<'partitionQueue' | 'preTransaction' | 'transactionQueue' | 'transaction', { observe(seconds: number): void }>;
  readonly transientRetries: Counter<'kind'>;
  readonly givenBack: Counter<'step'>;
  readonly compensations: Counter<'outcome'>;
  readonly outboxPublished: Counter<'via'>;
  readonly outboxLag: Gauge;
  readonly outboxBacklog: Gauge;
  readonly outboxParked: Gauge;
  readonly outboxRefused: Counter<'kind'>;
  readonly outboxParkedTotal: Counter;
  readonly partitions: Gauge;
  readonly partitionsOwned: Gauge;
  readonly partitionsPaused: Gauge;
  readonly leaseMembers: Gauge;
  readonly rebalances: Counter;
  readonly leaseHeartbeatFailures: Counter;
  readonly reservationExpiries: Counter<'source'>;
  readonly paymentReconciliations: Counter;
  readonly webhooks: Counter<'outcome'>;
  /** Reads the outbox at scrape time (set by the worker once Postgres is open). */
  private outboxSource: (() => Promise<{ rows: number; oldestAgeS: number; parked: number }>) | undefined;
  private outboxRead: { at: number; value: Promise<{ rows: number; oldestAgeS: number; parked: number } | undefined> } | undefined;

  /**
   * `instance_id`, not `instance`: Prometheus sets `instance` (host:port) on every scraped
   * series, and a label of ours by that name would be renamed `exported_instance`. Process and
   * Node.js metrics keep their conventional names (process_cpu_seconds_total,
   * nodejs_eventloop_lag_seconds …) so off-the-shelf Node.js dashboards work.
   */
  constructor(labels: { service: string; instanceId: string }) {
    this.registry.setDefaultLabels({ service: labels.service, instance_id: labels.instanceId });
    collectDefaultMetrics({ register: this.registry });
    const r = [this.registry];
    this.processed = new Counter({ name: 'stockflow_messages_total', help: 'Messages handled, by type and outcome (applied, duplicate, dead_lettered)', labelNames: ['type', 'outcome'], registers: r });
    this.duplicates = new Counter({ name: 'stockflow_duplicates_total', help: 'Duplicates absorbed, by where they were caught (redis fast path or inbox)', labelNames: ['type', 'via'], registers: r });
    this.idReused = new Counter({ name: 'stockflow_id_reused_total', help: 'Messages whose id was applied before as another message (another type or payload): dead-lettered as id_reused, not acked as duplicates', labelNames: ['type'], registers: r });
    this.deadLettered = new Counter({ name: 'stockflow_dead_lettered_total', help: 'Messages sent to a dead queue by the worker, by reason', labelNames: ['reason'], registers: r });
    this.redeliveries = new Counter({ name: 'stockflow_redeliveries_total', help: 'Deliveries flagged redelivered by the broker', registers: r });
    this.sequenceGaps = new Counter({ name: 'stockflow_sequence_gaps_total', help: 'Messages applied although the previous sequence number of their key never arrived within SEQUENCE_GAP_WAIT_MS', registers: r });
    this.latency = new Histogram({ name: 'stockflow_processing_seconds', help: 'From delivery to commit, per message', labelNames: ['type'], buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: r });
    this.batchSize = new Histogram({ name: 'stockflow_batch_messages', help: 'Messages applied per transaction', buckets: [1, 2, 5, 10, 20, 50, 100, 200], registers: r });
    this.mergedBatches = new Histogram({ name: 'stockflow_merged_batches', help: 'Partition batches per transaction (group commit; 1 = not merged)', buckets: [1, 2, 4, 8, 16, 32], registers: r });
    this.lockWait = new Histogram({ name: 'stockflow_lock_wait_seconds', help: 'Time spent claiming the messages of a transaction in the inbox and taking its sorted row locks', buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5], registers: r });
    this.stage = new Histogram({
      name: 'stockflow_stage_seconds',
      help: 'Where an applied message\'s delivery → commit time goes, per message: partition_queue (behind its partition\'s earlier batches; also BATCH_WAIT_MS and a resequencer hold), pre_transaction (decode, Redis duplicate lookup, prepare), transaction_queue (waiting for a transaction to carry its batch: group commit, TX_CONCURRENCY, a pooled connection; retries), transaction (BEGIN to COMMIT)',
      labelNames: ['stage'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: r,
    });
    this.stages = {
      partitionQueue: this.stage.labels('partition_queue'),
      preTransaction: this.stage.labels('pre_transaction'),
      transactionQueue: this.stage.labels('transaction_queue'),
      transaction: this.stage.labels('transaction'),
    };
    this.transientRetries = new Counter({ name: 'stockflow_transient_retries_total', help: 'Batches retried in place after a transient failure', labelNames: ['kind'], registers: r });
    this.givenBack = new Counter({ name: 'stockflow_given_back_total', help: 'Times a partition gave its deliveries back to the broker because a step kept failing past its retry budget (step: transaction, prepare, dead_letter) or an operator paused it while its batch was still retrying (step: pause); the broker\'s x-delivery-limit counts each', labelNames: ['step'], registers: r });
    this.compensations = new Counter({ name: 'stockflow_compensations_total', help: 'What prepare() did outside a transaction, undone before its message was dead-lettered (a charge refunded), by outcome: done, failed (the dead letter says so: a person must look)', labelNames: ['outcome'], registers: r });
    this.outboxPublished = new Counter({ name: 'stockflow_outbox_published_total', help: 'Outbox rows published with confirms by this instance, by how the relay got them (handoff: in memory from this worker; table: read back; parked: a parked key\'s head, retried)', labelNames: ['via'], registers: r });
    // Both read at scrape time, so a stuck relay shows up even when nothing is published.
    const outbox = this.readOutbox.bind(this);
    this.outboxLag = new Gauge({ name: 'stockflow_outbox_lag_seconds', help: 'Age of the oldest row in this service\'s outbox, published or not (a published row waits up to OUTBOX_DELETE_DELAY_MS for its DELETE; 0 when empty)', registers: r, async collect() {
      const v = await outbox();
      if (v) this.set(v.oldestAgeS);
    } });
    this.outboxBacklog = new Gauge({ name: 'stockflow_outbox_backlog', help: 'Rows in this service\'s outbox: waiting to be published, or published and waiting up to OUTBOX_DELETE_DELAY_MS for their DELETE', registers: r, async collect() {
      const v = await outbox();
      if (v) this.set(v.rows);
    } });
    this.outboxParked = new Gauge({ name: 'stockflow_outbox_parked', help: 'Rows in this service\'s outbox_parked: refused by the broker past their retry budget, with the later rows of their keys behind them (read at scrape time; ops outbox lists them)', registers: r, async collect() {
      const v = await outbox();
      if (v) this.set(v.parked);
    } });
    this.outboxRefused = new Counter({ name: 'stockflow_outbox_refused_total', help: 'Outbox rows the broker refused when this instance\'s relay published them, by kind (unroutable, nack, channel_closed, timeout, unencodable); each is retried, then parked', labelNames: ['kind'], registers: r });
    this.outboxParkedTotal = new Counter({ name: 'stockflow_outbox_parked_total', help: 'Outbox rows this instance\'s relay parked (a refused head past its budget and the rows of its key behind it)', registers: r });
    this.partitions = new Gauge({ name: 'stockflow_partitions', help: 'Partition queues of this worker kind in the deployment (PARTITIONS): sum(stockflow_partitions_owned) below it is a partition nobody consumes', registers: r });
    this.partitionsOwned = new Gauge({ name: 'stockflow_partitions_owned', help: 'Partition queues this instance consumes', registers: r });
    this.partitionsPaused = new Gauge({ name: 'stockflow_partitions_paused', help: 'Partition queues of this worker kind an operator paused (stockflow-ops pause): no instance consumes them until resumed', registers: r });
    this.leaseMembers = new Gauge({ name: 'stockflow_lease_members', help: 'Live instances of this worker kind in the lease set, as of the last heartbeat', registers: r });
    this.rebalances = new Counter({ name: 'stockflow_rebalances_total', help: 'Partition ownership changes applied by this instance', registers: r });
    this.leaseHeartbeatFailures = new Counter({ name: 'stockflow_lease_heartbeat_failures_total', help: 'Lease heartbeats that failed (Redis unreachable); the current partitions are kept', registers: r });
    this.paymentReconciliations = new Counter({ name: 'stockflow_payment_reconciliations_total', help: 'ReconcilePayment sent by the pending-charge sweep (a charge pending past PENDING_RECONCILE_AFTER_MS: its webhook is late or lost)', registers: r });
    this.webhooks = new Counter({ name: 'stockflow_webhooks_total', help: 'Provider webhooks POSTed to payment-worker\'s gateway, by outcome: accepted (published), signature_missing, signature_malformed, signature_mismatch, signature_stale (refused 401, nothing published), invalid (400), too_large (413), unavailable (503: the broker did not confirm)', labelNames: ['outcome'], registers: r });
    this.reservationExpiries = new Counter({ name: 'stockflow_reservation_expiries_total', help: 'ExpireReservation commands sent, by source (redis schedule or postgres sweep)', labelNames: ['source'], registers: r });
  }

  setOutboxSource(source: () => Promise<{ rows: number; oldestAgeS: number; parked: number }>): void {
    this.outboxSource = source;
  }

  /** One query per scrape for both gauges; a failed read leaves the last values. */
  private readOutbox(): Promise<{ rows: number; oldestAgeS: number; parked: number } | undefined> {
    const source = this.outboxSource;
    if (!source) return Promise.resolve(undefined);
    if (!this.outboxRead || Date.now() - this.outboxRead.at > 250) {
      this.outboxRead = { at: Date.now(), value: source().catch(() => undefined) };
    }
    return this.outboxRead.value;
  }
}
