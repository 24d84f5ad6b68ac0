import { TopologyMismatchError } from '@stockflow/shared';
import { startInventory, TestEnv } from '../support';

/** A broker whose queues were declared with other arguments is refused at start, by name. */
describe('topology mismatch check', () => {
  let env: TestEnv;
  afterAll(async () => env?.cleanup());

  it('refuses to start and names the queue and the argument', async () => {
    env = await TestEnv.create('topology');
    const first = await startInventory(env, { DELIVERY_LIMIT: 20 });
    await first.stop();

    const attempt = startInventory(env, { DELIVERY_LIMIT: 35 });
    await expect(attempt).rejects.toThrow(TopologyMismatchError);
    const err = (await attempt.catch((e: unknown) => e)) as TopologyMismatchError;
    expect(err.argument).toBe('x-delivery-limit');
    expect(err.entity).toMatch(new RegExp(`^queue '${env.namespace}\\.\\w+\\.p\\d+'$`));
    expect(err.message).toContain("received '35' but current is '20'");

    // The same arguments as on the broker start fine.
    const again = await startInventory(env, { DELIVERY_LIMIT: 20 });
    expect(again.state).toBe('running');
    await again.stop();
  });
});
