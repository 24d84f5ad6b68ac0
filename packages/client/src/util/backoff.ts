/** Exponential backoff with ±25 % jitter, capped (the cap includes the jitter). */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number): number {
  const exp = Math.min(maxMs / 1.25, baseMs * 2 ** Math.min(attempt, 30));
  return Math.round(exp * (0.75 + Math.random() * 0.5));
}
