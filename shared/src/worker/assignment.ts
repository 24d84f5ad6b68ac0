/**
 * Decides which partitions this instance consumes. The worker calls `onChange` with the full
 * owned set whenever it changes; the consumer group starts and drain-stops consumers to match.
 */
export interface PartitionAssigner {
  start(onChange: (owned: number[]) => Promise<void>): Promise<void>;
  stop(): Promise<void>;
  /** True once the assigner has a view of the membership (readiness). */
  readonly settled: boolean;
  /** Partitions this instance should own now (readiness: each has a consumer). */
  readonly target?: readonly number[];
  /** Owning nothing is this instance's proper share (more instances than partitions). */
  readonly spare?: boolean;
}

/** Every instance subscribes to every partition; single active consumer picks one per queue. */
export class AllPartitions implements PartitionAssigner {
  readonly settled = true;
  constructor(private readonly partitions: number) {}

  async start(onChange: (owned: number[]) => Promise<void>): Promise<void> {
    await onChange(Array.from({ length: this.partitions }, (_, i) => i));
  }

  async stop(): Promise<void> {}
}
