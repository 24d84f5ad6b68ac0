import type * as OtelApi from '@opentelemetry/api';

/**
 * W3C trace context in the headers of what the client publishes, when the application uses
 * OpenTelemetry. `@opentelemetry/api` is an optional peer dependency (the way OpenTelemetry asks
 * libraries to depend on it): without it, or without an SDK registered, nothing is added and
 * nothing is recorded.
 */
let api: typeof OtelApi | null | undefined;

function otel(): typeof OtelApi | null {
  if (api === undefined) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- optional peer: loaded only when the application installed it
      api = require('@opentelemetry/api') as typeof OtelApi;
    } catch {
      api = null;
    }
  }
  return api;
}

/** Adds `traceparent` (and `tracestate`) of the active context to a header table. */
export function injectTraceContext(headers: Record<string, unknown>): Record<string, unknown> {
  const o = otel();
  if (o) o.propagation.inject(o.context.active(), headers);
  return headers;
}

/**
 * Runs a publish inside a PRODUCER span `send <type>` (a child of the caller's active span, if
 * any), so the message's traceparent points at it and the consuming worker's span follows it.
 */
export async function inSendSpan<R>(type: string, messageId: string | undefined, work: () => Promise<R>): Promise<R> {
  const o = otel();
  if (!o) return work();
  const tracer = o.trace.getTracer('@stockflow/client');
  return tracer.startActiveSpan(`send ${type}`, { kind: o.SpanKind.PRODUCER, attributes: { 'messaging.system': 'rabbitmq', 'messaging.operation.type': 'send', 'messaging.message.type': type, ...(messageId ? { 'messaging.message.id': messageId } : {}) } }, async (span) => {
    try {
      return await work();
    } catch (err) {
      span.recordException(err as Error);
      span.setStatus({ code: o.SpanStatusCode.ERROR, message: (err as Error).message });
      throw err;
    } finally {
      span.end();
    }
  });
}
