import pino from 'pino';
import { FakeAmqp } from '../testing/fake-amqp';
import { type BatchControl, type Delivery, type DeliveryOrder, PartitionConsumer } from './partition-consumer';

const Q = 'sf.test.inventory.p0';
const silent = pino({ level: 'silent' });

const id = (d: Delivery) => d.msg.content.toString();
const ids = (ds: readonly Delivery[]) => ds.map(id);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls until `cond` holds; fails with `what` after `ms`. */
async function until(cond: () => boolean, what: string, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

const gates: (() => void)[] = [];

/** A promise the test resolves: holds a batch in process() as long as the test needs (a failed test's gates open in afterEach). */
function gate() {
  let open!: () => void;
  const wait = new Promise<void>((resolve) => (open = resolve));
  gates.push(open);
  return { wait, open };
}

type Process = (batch: Delivery[], ctl: BatchControl, call: number) => Promise<void>;

/** What pipeline.process does when all goes well: apply, then ack the batch up to its last delivery. */
const ackAll: Process = async (batch, ctl) => ctl.ack(batch[batch.length - 1]!, true);

const started: PartitionConsumer[] = [];
afterEach(async () => {
  for (const open of gates.splice(0)) open();
  await Promise.all(started.splice(0).map((c) => c.stop({ force: true })));
});

function setup(opts: { prefetch: number; batchSize?: number; batchWaitMs?: number; order?: DeliveryOrder; process?: Process }) {
  const fake = new FakeAmqp();
  const calls: Delivery[][] = [];
  const arrived: string[] = [];
  const consumer = new PartitionConsumer({
    conn: fake,
    queue: Q,
    partition: 0,
    prefetch: opts.prefetch,
    batchSize: opts.batchSize ?? 50,
    batchWaitMs: opts.batchWaitMs ?? 0,
    log: silent,
    order: opts.order,
    arrived: (d) => arrived.push(id(d)),
    process: async (batch, ctl) => {
      calls.push(batch);
      await (opts.process ?? ackAll)(batch, ctl, calls.length);
    },
  });
  started.push(consumer);
  const batches = () => calls.map(ids);
  return {
    fake,
    consumer,
    calls,
    arrived,
    batches,
    /** Starts and gets past probation: one fresh message commits and the consumer widens to the full prefetch on channel 2. */
    async warmUp() {
      await consumer.start();
      fake.publish(Q, 'w');
      await until(() => fake.consumersOf(Q)[0]?.number === 2, 'the widened subscription');
      expect(batches()).toEqual([['w']]);
      calls.length = 0;
      arrived.length = 0;
    },
  };
}

describe('PartitionConsumer', () => {
  it('hands batches over in delivery order, and a batch acked up to its last delivery goes out as one multiple ack', async () => {
    const h = setup({ prefetch: 10 });
    for (const m of ['a', 'b', 'c', 'd', 'e']) h.fake.publish(Q, m);
    await h.consumer.start();
    await until(() => h.fake.ready(Q).length === 0 && h.calls.length === 2 && h.fake.acks.length === 2, 'two batches acked');
    // Probation takes `a` alone (prefetch 1); the widened channel gets the rest at once.
    expect(h.batches()).toEqual([['a'], ['b', 'c', 'd', 'e']]);
    expect(h.fake.acks).toEqual([
      { channel: 1, tag: 1, multiple: false, settled: ['a'] },
      { channel: 2, tag: 4, multiple: true, settled: ['b', 'c', 'd', 'e'] },
    ]);
    expect(h.arrived).toEqual(['a', 'b', 'c', 'd', 'e']);
  });

  it('starts every subscription on probation (prefetch 1): redelivered heads go through one at a time, and the first fresh batch to commit widens on a new channel', async () => {
    const h = setup({ prefetch: 10 });
    // r1 and r2 come back from a consumer that crashed: suspects.
    h.fake.publish(Q, 'r1', { redelivered: true });
    h.fake.publish(Q, 'r2', { redelivered: true });
    for (const m of ['f3', 'f4', 'f5']) h.fake.publish(Q, m);
    await h.consumer.start();
    await until(() => h.fake.ready(Q).length === 0 && h.fake.channels.every((c) => c.unackedIds().length === 0) && h.calls.flat().length >= 5, 'all five applied');
    expect(h.batches()).toEqual([['r1'], ['r2'], ['f3'], ['f4', 'f5']]);
    expect(h.fake.channels.map((c) => c.prefetches)).toEqual([[1], [10]]);
    // Widening closes the probation channel rather than cancelling on it (see endProbation).
    expect(h.fake.channels[0]!.closedBy).toEqual({ by: 'client' });
    expect(h.fake.consumersOf(Q).map((c) => c.number)).toEqual([2]);
  });

  it('ends probation at once when the DeliveryOrder holds back the only delivery a probation channel can get, and resets the order per subscription', async () => {
    const selects: { buffered: string[]; full: boolean }[] = [];
    let resets = 0;
    const consumed: string[][] = [];
    // Releases nothing until both a and b are in hand, then a before b.
    const order: DeliveryOrder = {
      select: async (buffer, { full }) => {
        selects.push({ buffered: ids(buffer), full });
        const have = new Set(ids(buffer));
        if (!have.has('a') || !have.has('b')) return { take: [], retryInMs: 50 };
        return { take: [...buffer].sort((x, y) => id(x).localeCompare(id(y))) };
      },
      consumed: (ds) => void consumed.push(ids(ds)),
      reset: () => void resets++,
    };
    const h = setup({ prefetch: 2, order });
    h.fake.publish(Q, 'b');
    h.fake.publish(Q, 'a');
    await h.consumer.start();
    await until(() => h.calls.length === 1 && consumed.length === 1, 'the ordered batch');
    expect(h.batches()).toEqual([['a', 'b']]);
    expect(consumed).toEqual([['a', 'b']]);
    expect(resets).toBe(2);
    // On probation the buffer is never `full` (prefetch 1 is not the consumer's prefetch); on
    // the widened channel the two deliveries fill the prefetch of 2.
    expect(selects[0]).toEqual({ buffered: ['b'], full: false });
    expect(selects.at(-1)).toEqual({ buffered: ['b', 'a'], full: true });
    expect(h.fake.channels.map((c) => c.prefetches)).toEqual([[1], [2]]);
  });

  it('never lets a multiple ack cover a delivery the DeliveryOrder holds back', async () => {
    let hold = true;
    const order: DeliveryOrder = {
      select: async (buffer) => {
        const take = buffer.filter((d) => !(hold && id(d) === 'm1'));
        return take.length > 0 ? { take } : { take: [], retryInMs: 20 };
      },
      consumed: () => undefined,
      reset: () => undefined,
    };
    const h = setup({ prefetch: 10, order });
    await h.warmUp();
    for (const m of ['m1', 'm2', 'm3']) h.fake.publish(Q, m);
    await until(() => h.fake.acks.length === 3, 'the batch without m1 acked');
    expect(h.batches()).toEqual([['m2', 'm3']]);
    // Tags 2 and 3 are acked one by one: a multiple ack of tag 3 would settle m1 (tag 1) too.
    expect(h.fake.acks.slice(1)).toEqual([
      { channel: 2, tag: 2, multiple: false, settled: ['m2'] },
      { channel: 2, tag: 3, multiple: false, settled: ['m3'] },
    ]);
    expect(h.fake.channels[1]!.unackedIds()).toEqual(['m1']);
    hold = false;
    await until(() => h.calls.length === 2 && h.fake.acks.length === 4, 'm1 applied');
    expect(h.batches()).toEqual([['m2', 'm3'], ['m1']]);
    expect(h.fake.acks[3]).toEqual({ channel: 2, tag: 1, multiple: false, settled: ['m1'] });
  });

  it('drops the acks of a batch whose channel died meanwhile: on the new channel its tags name other messages', async () => {
    const inFlight = gate();
    let staleSeen: boolean | undefined;
    const h = setup({
      prefetch: 1,
      process: async (batch, ctl, call) => {
        if (call === 1) {
          await inFlight.wait;
          staleSeen = ctl.isStale(batch[0]!);
        }
        ctl.ack(batch[batch.length - 1]!, true);
      },
    });
    h.fake.publish(Q, 'a');
    h.fake.publish(Q, 'b');
    await h.consumer.start();
    await until(() => h.calls.length === 1, 'a in process');
    h.fake.kill();
    await h.fake.reconnect();
    // The new channel has delivered a again, under the same tag 1.
    await until(() => h.fake.channels[1]?.unackedIds().join() === 'a', 'a redelivered on channel 2');
    inFlight.open();
    await until(() => h.calls.length === 3 && h.fake.acks.length === 2, 'a and b applied on channel 2');
    expect(staleSeen).toBe(true);
    expect(h.batches()).toEqual([['a'], ['a'], ['b']]);
    expect(h.calls[1]![0]!.msg.fields.redelivered).toBe(true);
    // Only the second process() of a acked it: the first one's ack was dropped, not sent on channel 2.
    expect(h.fake.acks).toEqual([
      { channel: 2, tag: 1, multiple: false, settled: ['a'] },
      { channel: 2, tag: 2, multiple: false, settled: ['b'] },
    ]);
  });

  it('after a lost connection only the reconnect subscribes: the resubscribe timer stands down for a new connection whose channel is still opening', async () => {
    const h = setup({ prefetch: 1 });
    await h.consumer.start();
    await until(() => h.fake.consumersOf(Q).length === 1, 'subscribed');
    h.fake.kill();
    const release = h.fake.holdChannelOpens();
    const reconnected = h.fake.reconnect();
    await sleep(300); // past the 200 ms resubscribe timer the channel close armed
    release();
    await reconnected;
    await sleep(50);
    expect(h.fake.channels.map((c) => c.number)).toEqual([1, 2]);
    expect(h.fake.consumersOf(Q).map((c) => c.number)).toEqual([2]);
    h.fake.publish(Q, 'x');
    await until(() => h.fake.acks.length === 1, 'x applied');
    expect(h.batches()).toEqual([['x']]);
  });

  it('resubscribes on a fresh channel after a broker-side consumer cancel', async () => {
    const h = setup({ prefetch: 1 });
    await h.consumer.start();
    h.fake.publish(Q, 'a');
    await until(() => h.fake.acks.length === 1, 'a applied');
    h.fake.cancelConsumers(Q);
    await until(() => h.fake.consumersOf(Q)[0]?.number === 2, 'the consumer on channel 2');
    expect(h.fake.channels[0]!.closedBy).toEqual({ by: 'client' });
    h.fake.publish(Q, 'b');
    await until(() => h.fake.acks.length === 2, 'b applied');
    expect(h.batches()).toEqual([['a'], ['b']]);
    expect(h.fake.acks[1]).toEqual({ channel: 2, tag: 1, multiple: false, settled: ['b'] });
    expect(h.fake.consumersOf(Q)).toHaveLength(1);
  });

  it('forgets the buffer of a channel the broker closed and applies the redeliveries, in order, once resubscribed', async () => {
    const inFlight = gate();
    let ackThrew = false;
    const h = setup({
      prefetch: 10,
      batchSize: 1,
      process: async (batch, ctl) => {
        if (ids(batch).join() === 'm1' && !batch[0]!.msg.fields.redelivered) await inFlight.wait;
        try {
          ctl.ack(batch[0]!, true);
        } catch {
          ackThrew = true;
        }
      },
    });
    await h.warmUp();
    for (const m of ['m1', 'm2', 'm3']) h.fake.publish(Q, m);
    await until(() => h.calls.length === 1 && h.consumer.buffered === 2, 'm1 in process, m2 and m3 buffered');
    const gen = h.calls[0]![0]!.generation;
    h.fake.channels[1]!.closeByBroker(406, 'PRECONDITION_FAILED - simulated');
    expect(h.consumer.buffered).toBe(0);
    inFlight.open();
    await sleep(20);
    // The dead channel's m2 and m3 are not handed over: their redeliveries are on the way.
    expect(h.batches()).toEqual([['m1']]);
    await until(() => h.calls.length === 4 && h.fake.acks.length === 4, 'the redeliveries applied');
    expect(ackThrew).toBe(false);
    expect(h.batches()).toEqual([['m1'], ['m1'], ['m2'], ['m3']]);
    const again = h.calls.slice(1).flat();
    expect(again.every((d) => d.msg.fields.redelivered && d.generation > gen)).toBe(true);
    expect(h.fake.channels.map((c) => c.number)).toEqual([1, 2, 3]);
    // A subscription after a channel loss starts on probation again: the redeliveries go one by one.
    expect(h.fake.channels[2]!.prefetches).toEqual([1]);
  });

  it('giveBack returns every unacked delivery in order and subscribes again on probation', async () => {
    let staleAfterGiveBack: boolean | undefined;
    const h = setup({
      prefetch: 10,
      process: async (batch, ctl, call) => {
        if (call === 1) {
          ctl.giveBack();
          staleAfterGiveBack = ctl.isStale(batch[0]!);
          return;
        }
        ctl.ack(batch[batch.length - 1]!, true);
      },
    });
    await h.consumer.start();
    for (const m of ['m1', 'm2', 'm3']) h.fake.publish(Q, m);
    await until(() => h.fake.acks.length === 3, 'the three applied after the give-back');
    expect(staleAfterGiveBack).toBe(true);
    // The first (probation) batch was m1 alone; given back, m1 is redelivered first and the
    // redelivered head keeps the new channel on probation.
    expect(h.batches()).toEqual([['m1'], ['m1'], ['m2'], ['m3']]);
    expect(h.calls[1]![0]!.msg.fields.redelivered).toBe(true);
    expect(h.fake.channels[0]!.closedBy).toEqual({ by: 'client' });
    expect(h.fake.channels[1]!.prefetches).toEqual([1]);
  });

  it('giveBack from a widened channel hands the whole batch back, and each returned delivery then goes through alone', async () => {
    let gaveBack = false;
    const h = setup({
      prefetch: 10,
      process: async (batch, ctl) => {
        if (!gaveBack && batch.length > 1) {
          gaveBack = true;
          return ctl.giveBack();
        }
        ctl.ack(batch[batch.length - 1]!, true);
      },
    });
    await h.warmUp();
    for (const m of ['m1', 'm2', 'm3']) h.fake.publish(Q, m);
    await until(() => h.fake.acks.length === 4, 'the three applied after the give-back');
    expect(h.batches()).toEqual([['m1', 'm2', 'm3'], ['m1'], ['m2'], ['m3']]);
    expect(h.fake.channels.map((c) => c.prefetches)).toEqual([[1], [10], [1]]);
    expect(h.fake.acks.slice(1).map((a) => a.settled)).toEqual([['m1'], ['m2'], ['m3']]);
  });

  it('drops the channel when process() throws, so the broker redelivers the batch rather than the consumer acking past it', async () => {
    const h = setup({
      prefetch: 1,
      process: async (batch, ctl, call) => {
        if (call === 1) throw new Error('a bug');
        ctl.ack(batch[0]!);
      },
    });
    h.fake.publish(Q, 'a');
    h.fake.publish(Q, 'b');
    await h.consumer.start();
    await until(() => h.fake.acks.length === 2, 'a and b applied', 5000);
    expect(h.batches()).toEqual([['a'], ['a'], ['b']]);
    expect(h.fake.channels[0]!.closedBy).toEqual({ by: 'client' });
    expect(h.fake.acks.map((a) => [a.channel, a.settled])).toEqual([
      [2, ['a']],
      [2, ['b']],
    ]);
  });

  it('stop drains: the batch in hand commits and acks on its channel, nothing new starts or arrives, the rest goes back to the queue', async () => {
    const inFlight = gate();
    const h = setup({
      prefetch: 10,
      batchSize: 2,
      process: async (batch, ctl) => {
        if (id(batch[0]!) === 'm1') await inFlight.wait;
        ctl.ack(batch[batch.length - 1]!, true);
      },
    });
    await h.warmUp();
    for (const m of ['m1', 'm2', 'm3', 'm4']) h.fake.publish(Q, m);
    await until(() => h.calls.length === 1 && h.consumer.buffered === 2, 'm1, m2 in process');
    let stopped = false;
    const stopping = h.consumer.stop().then(() => (stopped = true));
    h.fake.publish(Q, 'm5');
    await sleep(20);
    expect(stopped).toBe(false);
    inFlight.open();
    await stopping;
    expect(h.batches()).toEqual([['m1', 'm2']]);
    expect(h.fake.acks.at(-1)).toEqual({ channel: 2, tag: 2, multiple: true, settled: ['m1', 'm2'] });
    // m5 reached the draining consumer but was not taken in (nor announced as arrived).
    expect(h.arrived).toEqual(['m1', 'm2', 'm3', 'm4']);
    expect(h.fake.ready(Q)).toEqual(['m3', 'm4', 'm5']);
    expect(h.fake.consumersOf(Q)).toEqual([]);
    expect(h.fake.channels[1]!.closedBy).toEqual({ by: 'client' });
  });

  it('stop with a bound cuts a batch that outlasts it: its signal aborts, nothing is acked, the whole batch goes back to the queue', async () => {
    const h = setup({
      prefetch: 10,
      batchSize: 2,
      // A batch retrying a dependency that is down: it ends only when its signal aborts.
      process: async (batch, ctl) => {
        if (id(batch[0]!) === 'w') return ackAll(batch, ctl, 0);
        await new Promise((r) => ctl.signal.addEventListener('abort', r, { once: true }));
      },
    });
    await h.warmUp();
    for (const m of ['m1', 'm2', 'm3']) h.fake.publish(Q, m);
    await until(() => h.calls.length === 1, 'm1, m2 in process');
    const acked = h.fake.acks.length;
    expect(await h.consumer.stop({ abortAfterMs: 50 })).toBe(true);
    expect(h.fake.acks.length).toBe(acked);
    expect(h.fake.ready(Q)).toEqual(['m1', 'm2', 'm3']);
    expect(h.fake.consumersOf(Q)).toEqual([]);
  });

  it('stop with a bound that a batch keeps reports nothing cut', async () => {
    const h = setup({ prefetch: 10, batchSize: 2 });
    await h.warmUp();
    h.fake.publish(Q, 'm1');
    await until(() => h.batches().length === 1, 'm1 applied');
    expect(await h.consumer.stop({ abortAfterMs: 50 })).toBe(false);
  });

  it('stop while the subscription is still opening its channel leaves no consumer behind', async () => {
    const h = setup({ prefetch: 1 });
    const release = h.fake.holdChannelOpens();
    const starting = h.consumer.start();
    await sleep(10);
    const stopping = h.consumer.stop();
    await sleep(10);
    release();
    await Promise.all([starting, stopping]);
    await sleep(20);
    expect(h.fake.consumersOf(Q)).toEqual([]);
    expect(h.fake.channels.every((c) => c.state === 'closed')).toBe(true);
    h.fake.publish(Q, 'x');
    await sleep(20);
    expect(h.fake.ready(Q)).toEqual(['x']);
    expect(h.calls).toEqual([]);
  });

  it('waits up to batchWaitMs for a partial batch to fill', async () => {
    const h = setup({ prefetch: 10, batchSize: 3, batchWaitMs: 300 });
    await h.warmUp();
    h.fake.publish(Q, 'm1');
    await sleep(50);
    h.fake.publish(Q, 'm2');
    await until(() => h.calls.length === 1, 'one batch');
    expect(h.batches()).toEqual([['m1', 'm2']]);
  });
});
