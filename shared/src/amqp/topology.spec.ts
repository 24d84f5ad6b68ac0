import { TopologyMismatchError } from '../errors';
import { acceptedGroupSize, asTopologyError, partitionQueueArguments, queuesOf, type TopologyOptions } from './topology';

const GROUP = 'x-quorum-initial-group-size';
const base: TopologyOptions = { namespace: 'sf', partitions: 2, deliveryLimit: 20 };
const mismatch = (argument: string, detail: string) => new TopologyMismatchError("queue 'sf.inventory.p0'", argument, detail);

describe('quorum group size', () => {
  it('is left to RabbitMQ when not set', () => {
    expect(partitionQueueArguments(base, 'q')).not.toHaveProperty(GROUP);
    for (const q of queuesOf(base, 'inventory')) expect(q.options.arguments).not.toHaveProperty(GROUP);
  });

  it('is declared on every partition queue and dead queue when set', () => {
    const queues = queuesOf({ ...base, quorumGroupSize: 3 }, 'inventory');
    expect(queues).toHaveLength(4);
    for (const q of queues) expect(q.options.arguments).toMatchObject({ 'x-queue-type': 'quorum', [GROUP]: 3 });
    // The other arguments are as before.
    expect(partitionQueueArguments({ ...base, quorumGroupSize: 3 }, 'q')).toEqual({ ...partitionQueueArguments(base, 'q'), [GROUP]: 3 });
  });
});

describe('acceptedGroupSize: which refusals of a declaration the topology check lets pass', () => {
  it.each([
    ["received the value '3' of type 'byte' but current is none", null],
    ["received the value '1' of type 'signedint' but current is none", null],
    ["received none but current is the value '3' of type 'byte'", 3],
    ["received none but current is the value '1' of type 'long'", 1],
    ["received '1' but current is '3'", 3],
    ["received '3' but current is '1'", 1],
  ])('%s → accepted, the queue keeping %p', (detail, kept) => {
    expect(acceptedGroupSize(mismatch(GROUP, detail))).toBe(kept);
  });

  it.each([
    ["received '3' but current is '5'"],
    ["received none but current is the value '2' of type 'byte'"],
    ['something else entirely'],
  ])('refuses a group size of another cluster shape: %s', (detail) => {
    expect(acceptedGroupSize(mismatch(GROUP, detail))).toBeUndefined();
  });

  it('refuses any other argument and any other error', () => {
    expect(acceptedGroupSize(mismatch('x-delivery-limit', "received '35' but current is '20'"))).toBeUndefined();
    expect(acceptedGroupSize(new Error("inequivalent arg 'x-quorum-initial-group-size'"))).toBeUndefined();
  });

  it("reads the broker's own 406 as asTopologyError turns it into an error", () => {
    const raw = new Error(
      `Operation failed: QueueDeclare; 406 (PRECONDITION-FAILED) with message "PRECONDITION_FAILED - inequivalent arg '${GROUP}' for queue 'sf.inventory.p0' in vhost '/': received the value '3' of type 'byte' but current is none"`,
    );
    const err = asTopologyError(raw);
    expect(err).toBeInstanceOf(TopologyMismatchError);
    expect(acceptedGroupSize(err)).toBeNull();
  });
});
