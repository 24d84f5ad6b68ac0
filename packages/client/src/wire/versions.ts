import { oldestVersion, type Contract } from '../contracts';
import { PermanentMessageError } from '../errors';

const MAX_ISSUES = 5;

function invalid(type: string, version: number, issues: readonly { path: PropertyKey[]; message: string }[]): PermanentMessageError {
  const text = issues.slice(0, MAX_ISSUES).map((i) => `${i.path.map(String).join('.') || '(body)'}: ${i.message}`);
  return new PermanentMessageError('invalid_schema', `${type} v${version}: ${text.join('; ')}`);
}

/**
 * A payload of any version the contract accepts, as the current version (and as its own version
 * parsed it, `asSent`): each older version is
 * validated with its own schema and upcast one step at a time, then the result is validated with
 * the current schema. A version newer than the worker's (a publisher upgraded first) or older
 * than its oldest upcaster is refused: `unsupported_version`, dead-lettered, replayable once a
 * worker that knows it runs.
 */
export function toCurrentVersion(type: string, contract: Contract, version: number, json: unknown): { payload: unknown; asSent: unknown } {
  if (!Number.isInteger(version) || version < oldestVersion(contract) || version > contract.version) {
    const accepted = oldestVersion(contract) === contract.version ? `v${contract.version} is` : `v${oldestVersion(contract)} to v${contract.version} are`;
    throw new PermanentMessageError('unsupported_version', `${type} v${version} not supported (${accepted})`);
  }
  let payload = json;
  let asSent: unknown;
  for (let v = version; v < contract.version; v++) {
    const step = contract.upcasters.find((u) => u.from === v)!;
    const old = step.schema.safeParse(payload);
    if (!old.success) throw invalid(type, v, old.error.issues);
    asSent ??= old.data;
    payload = step.upcast(old.data as never);
  }
  const parsed = contract.schema.safeParse(payload);
  if (!parsed.success) throw invalid(type, contract.version, parsed.error.issues);
  return { payload: parsed.data, asSent: asSent ?? parsed.data };
}
