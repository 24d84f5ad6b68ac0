import type { CommandType, Payload } from '@stockflow/shared';

/** What the provider simulator must do when this order is charged (set before it is published). */
export interface ProviderPlan {
  orderId: string;
  decline?: boolean;
  timeout?: 'after-charge' | 'before-charge';
  /** The charge answers `pending`; its outcome comes only by (duplicated) webhook. */
  asyncCapture?: boolean;
}

/**
 * A set adjustment is completed when it is published, like an operator who looked at the
 * count a moment ago: expectedVersion and count come from the latest levels the event tap saw
 * for the key. The seeded part is only how far the count is off.
 */
export interface SetAdjustment {
  productId: string;
  warehouseId: string;
  countOffset: number;
  reason: string;
}

/** One command of the workload, in generation order. */
export interface PlannedCommand {
  /** Generation index (0-based); stable for a seed. */
  n: number;
  messageId: string;
  type: CommandType;
  /** Partition key (per-key order and sequence numbers are kept per this key). */
  key: string;
  /** Null for a set adjustment until it is published (see SetAdjustment). */
  payload: Payload<CommandType> | null;
  setAdjustment?: SetAdjustment;
  provider?: ProviderPlan;
  /** Setup commands (warehouses, initial stock) are published before the flood proper. */
  setup?: boolean;
}

/** One publish: a command's first copy, or an exact re-publish of it (same id, payload, sequence). */
export interface ScheduledPublish {
  command: PlannedCommand;
  duplicate: false | 'concurrent' | 'late';
  /** On an original: how many copies of it follow (so its prepared message can be let go after the last). */
  copies?: number;
}

/** Relative weights of command kinds; a profile is a named Mix. */
export interface Mix {
  receive: number;
  adjustDelta: number;
  adjustSet: number;
  transfer: number;
  ship: number;
  order: number;
  cancel: number;
  reserve: number;
}

export const MIX_KEYS: readonly (keyof Mix)[] = ['receive', 'adjustDelta', 'adjustSet', 'transfer', 'ship', 'order', 'cancel', 'reserve'];

/** The default mix: every command kind, orders the largest share. */
export const MIXED: Mix = { receive: 15, adjustDelta: 5, adjustSet: 3, transfer: 10, ship: 8, order: 40, cancel: 6, reserve: 13 };
