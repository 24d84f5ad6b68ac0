import { context, propagation, ROOT_CONTEXT, SpanKind, trace, type Span, type TextMapGetter } from '@opentelemetry/api';
import type { Envelope } from '@stockflow/client/internal';

/**
 * One CONSUMER span per message a worker takes, a child of the span whose W3C `traceparent` the
 * message carries (the publisher's, or the span of the message that caused it), and the same
 * header on every message it emits (outbox rows): one order's path through the three workers is
 * one trace. Without an SDK registered (OTEL_* unset) the spans are no-ops.
 */
const tracer = () => trace.getTracer('@stockflow/worker');

const headerGetter: TextMapGetter<Record<string, unknown>> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => {
    const v = carrier[key];
    if (Buffer.isBuffer(v)) return v.toString('utf8');
    return typeof v === 'string' ? v : undefined;
  },
};

export function startMessageSpan(envelope: Envelope, headers: Record<string, unknown>, consumer: string, partition: number): Span {
  const parent = propagation.extract(ROOT_CONTEXT, headers, headerGetter);
  return tracer().startSpan(
    `process ${envelope.type}`,
    {
      kind: SpanKind.CONSUMER,
      attributes: {
        'messaging.system': 'rabbitmq',
        'messaging.operation.type': 'process',
        'messaging.message.id': envelope.messageId,
        'messaging.message.conversation_id': envelope.correlationId,
        'messaging.consumer.group.name': consumer,
        'messaging.destination.partition.id': String(partition),
        'stockflow.message.type': envelope.type,
      },
    },
    parent,
  );
}

/** The trace headers of a message emitted while processing under `span`. */
export function traceHeaders(span: Span | undefined): Record<string, unknown> {
  const headers: Record<string, unknown> = {};
  if (span) propagation.inject(trace.setSpan(context.active(), span), headers);
  return headers;
}

/** The W3C traceparent of a span, for a trace to be continued later by something that will not carry it (a provider's webhook). */
export function traceParentOf(span: Span | undefined): string | undefined {
  const v = traceHeaders(span).traceparent;
  return typeof v === 'string' ? v : undefined;
}

/** Whether an OpenTelemetry SDK registered a propagator: without one, trace context is never read or written. */
export function tracingEnabled(): boolean {
  return propagation.fields().length > 0;
}
