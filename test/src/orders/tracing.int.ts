import { context, propagation, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, NodeTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-node';
import { eventually } from '../support';
import { Saga } from './harness';

/**
 * One PlaceOrder, one trace: the client's `send PlaceOrder` span is the root, and every message
 * the saga causes in the three workers (each a CONSUMER span) is a descendant of it, through
 * the traceparent each outbox row carries.
 */
describe('tracing an order across the three workers', () => {
  const exporter = new InMemorySpanExporter();
  const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  let saga: Saga;
  beforeAll(() => provider.register());
  afterAll(async () => {
    await saga?.stop();
    await provider.shutdown();
    trace.disable();
    propagation.disable();
    context.disable();
  });

  it('gives one PlaceOrder one trace whose spans cover inventory, order and payment workers', async () => {
    saga = await Saga.start('tracing', { provider: { asyncCaptureOrders: ['o-async'], asyncCaptureDelayMs: 200 } });
    await saga.stockUp(5);
    await saga.placeOrder('o-trace');
    await saga.waitForStatus('o-trace', 'CONFIRMED');

    const expected = ['process PlaceOrder', 'process ReserveStock', 'process StockReserved', 'process RequestPayment', 'process PaymentCaptured', 'process CommitReservation', 'process ReservationCommitted'];
    const spans = await eventually(() => {
      const root = exporter.getFinishedSpans().find((s) => s.name === 'send PlaceOrder');
      expect(root).toBeDefined();
      const inTrace = exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === root!.spanContext().traceId);
      expect(inTrace.map((s) => s.name)).toEqual(expect.arrayContaining(expected));
      return { root: root!, inTrace };
    });
    expect(spans.root.parentSpanContext).toBeUndefined();
    const ids = new Set(spans.inTrace.map((s) => s.spanContext().spanId));
    for (const s of spans.inTrace.filter((x) => x !== spans.root)) expect(ids.has(s.parentSpanContext!.spanId)).toBe(true);
    const workers = new Set(spans.inTrace.map((s) => s.attributes['messaging.consumer.group.name']).filter(Boolean));
    expect([...workers].sort()).toEqual(['inventory-worker', 'order-worker', 'payment-worker']);
    for (const s of spans.inTrace.filter((x) => x.name.startsWith('process '))) {
      expect(s.attributes['messaging.message.conversation_id']).toBe('place-o-trace');
    }
  });

  it("keeps an asynchronous capture in the order's trace: the webhook continues the charge's trace", async () => {
    await saga.placeOrder('o-async');
    await saga.waitForStatus('o-async', 'CONFIRMED');
    const expected = ['process PlaceOrder', 'process RequestPayment', 'process ProviderWebhook', 'process PaymentCaptured', 'process CommitReservation'];
    const spans = await eventually(() => {
      const root = exporter.getFinishedSpans().find((s) => s.name === 'send PlaceOrder' && s.attributes['messaging.message.id'] === 'place-o-async');
      expect(root).toBeDefined();
      const inTrace = exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === root!.spanContext().traceId);
      expect(inTrace.map((s) => s.name)).toEqual(expect.arrayContaining(expected));
      return inTrace;
    });
    const webhook = spans.find((s) => s.name === 'process ProviderWebhook')!;
    const charge = spans.find((s) => s.name === 'process RequestPayment')!;
    expect(webhook.parentSpanContext?.spanId).toBe(charge.spanContext().spanId);
  });
});
