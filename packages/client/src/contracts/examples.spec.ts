import { examples } from './examples';
import { applyPartitionKeyRule, partitionKeyRules } from './partition-key-rules';
import { contracts, partitionKeyOf, type MessageType } from './registry';

const types = Object.keys(contracts) as MessageType[];

describe('contract examples', () => {
  it('has an example and a partition key rule for every message type, and nothing else', () => {
    expect(Object.keys(examples).sort()).toEqual([...types].sort());
    expect(Object.keys(partitionKeyRules).sort()).toEqual([...types].sort());
  });

  it.each(types)('%s: the example is valid against its schema', (type) => {
    const result = contracts[type].schema.safeParse(examples[type]);
    expect(result.success ? [] : result.error.issues).toEqual([]);
  });

  it.each(types)('%s: the documented partition key rule gives the same key as the registry', (type) => {
    const example = examples[type] as Record<string, unknown>;
    expect(applyPartitionKeyRule(partitionKeyRules[type], example)).toBe(partitionKeyOf(type, example as never));
    // Optional fields change keys too ({orderId|reservationId}): check each variant without one.
    for (const field of Object.keys(example)) {
      const { [field]: _dropped, ...variant } = example;
      if (!contracts[type].schema.safeParse(variant).success) continue;
      expect(applyPartitionKeyRule(partitionKeyRules[type], variant)).toBe(partitionKeyOf(type, variant as never));
    }
  });

  it('a rule naming a missing field is an error, not an empty key', () => {
    expect(() => applyPartitionKeyRule('{productId}:{warehouseId}', { productId: 'p' })).toThrow(/warehouseId/);
  });
});
