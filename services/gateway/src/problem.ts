/** An answer: status, JSON body, headers. Errors are RFC 9457 problem details. */
export interface Answer {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

export const PROBLEM_TYPE = 'application/problem+json';

/** `type` is a stable code clients switch on (e.g. idempotency_key_reused). */
export function problem(status: number, code: string, title: string, detail?: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}): Answer {
  return { status, body: { type: `https://stockflow.dev/problems/${code}`, code, title, status, ...(detail ? { detail } : {}), ...extra }, headers: { 'content-type': PROBLEM_TYPE, ...headers } };
}
