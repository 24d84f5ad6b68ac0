import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The gateway's metrics, on a registry of its own, labelled like the workers'. */
export class GatewayMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<'route' | 'status'>;
  readonly seconds: Histogram<'route'>;

  constructor(labels: { instanceId: string }) {
    this.registry.setDefaultLabels({ service: 'gateway', instance_id: labels.instanceId });
    collectDefaultMetrics({ register: this.registry });
    const r = [this.registry];
    this.requests = new Counter({ name: 'stockflow_gateway_requests_total', help: 'HTTP requests to the gateway, by route and answer status (202 accepted, 201 applied, 409 refused, 4xx refused before sending, 503 the broker did not confirm)', labelNames: ['route', 'status'], registers: r });
    this.seconds = new Histogram({ name: 'stockflow_gateway_request_seconds', help: 'From request to answer, by route (with Prefer: wait, the wait included)', labelNames: ['route'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers: r });
  }
}
