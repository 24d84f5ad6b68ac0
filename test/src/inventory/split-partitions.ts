import type { PartitionAssigner } from '@stockflow/shared';

/**
 * Single active consumer makes the first subscriber of a queue its active consumer, so two
 * instances started with AllPartitions leave the second idle on every partition. This assigner
 * subscribes an instance to its own share first; standbyForAll() then adds the rest, where it
 * queues behind the other instance as standby (and takes over if that one stops).
 */
export class SplitPartitions implements PartitionAssigner {
  readonly settled = true;
  private onChange: ((owned: number[]) => Promise<void>) | undefined;

  constructor(
    private readonly mine: number[],
    private readonly partitions: number,
  ) {}

  async start(onChange: (owned: number[]) => Promise<void>): Promise<void> {
    this.onChange = onChange;
    await onChange(this.mine);
  }

  async standbyForAll(): Promise<void> {
    await this.onChange?.(Array.from({ length: this.partitions }, (_, p) => p));
  }

  async stop(): Promise<void> {
    this.onChange = undefined;
  }
}
