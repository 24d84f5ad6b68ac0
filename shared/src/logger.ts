import pino, { type Logger } from 'pino';

export type { Logger };

export function createLogger(opts: { service: string; instanceId: string; level: string }): Logger {
  return pino({
    level: opts.level,
    base: { service: opts.service, instance: opts.instanceId },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  });
}

/** Fields every per-message log line carries, so one grep follows a message through the system. */
export interface MessageLogFields {
  messageId: string;
  type: string;
  partition: number;
  correlationId: string;
}

export function messageLogger(log: Logger, fields: MessageLogFields): Logger {
  return log.child(fields);
}
