import pino from 'pino';
import { Registry } from 'prom-client';
import { HealthServer } from './server';

describe('worker HTTP server', () => {
  it('answers a failed route with an error id, never the error text, and logs the text under that id', async () => {
    const lines: string[] = [];
    const log = pino({ level: 'info' }, { write: (l: string) => void lines.push(l) });
    const route = {
      method: 'POST' as const,
      path: '/boom',
      handle: () => Promise.reject(new Error('connect to postgres://app:hunter2@db failed')),
    };
    const server = new HealthServer(0, new Registry(), () => true, [], [route], 1024, log);
    await server.start();
    try {
      const res = await fetch(`http://127.0.0.1:${server.boundPort}/boom`, { method: 'POST', body: '{}' });
      const text = await res.text();
      expect(res.status).toBe(500);
      expect(text).not.toContain('hunter2');
      const body = JSON.parse(text) as { error: string; errorId: string };
      expect(body).toEqual({ error: 'internal error', errorId: expect.stringMatching(/^[0-9a-f-]{36}$/) });
      const logged = lines.map((l) => JSON.parse(l) as { errorId?: string; err?: string }).find((l) => l.errorId === body.errorId);
      expect(logged?.err).toContain('connect to postgres');
    } finally {
      await server.stop();
    }
  });
});
