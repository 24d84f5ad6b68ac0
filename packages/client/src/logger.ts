/**
 * What the client logs through: pino's signature (fields first, then the message), so a pino
 * logger fits as it is and anything else can be adapted in four lines. Silent by default.
 */
type LogFn = (fieldsOrMessage: object | string, message?: string) => void;

export interface Logger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
}

const ignore: LogFn = () => undefined;
export const silentLogger: Logger = { debug: ignore, info: ignore, warn: ignore, error: ignore };
