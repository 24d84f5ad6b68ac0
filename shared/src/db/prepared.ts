import { createHash } from 'node:crypto';
import type { QueryConfig } from 'pg';

/**
 * An unnamed statement is parsed and planned again at every execution, and planning is a large
 * share of the hot path's short statements (pg_stat_statements with track_planning shows it
 * beside execution). A named statement is
 * parsed once per connection and, after five executions, runs on a cached plan. The name is
 * derived from the text, so the same text always gets the same name on every connection and
 * two texts never share one (node-postgres refuses a known name with another text).
 *
 * Only parameterised statements are named: their text is fixed and their values travel apart.
 * A program that builds texts with values inside would fill every session with statements,
 * so past `MAX_NAMED` distinct texts the rest go unnamed.
 */
const MAX_NAMED = 1000;
const names = new Map<string, string>();

export function prepared(text: string, values: unknown[] | undefined): QueryConfig {
  if (!values || values.length === 0) return { text, values };
  let name = names.get(text);
  if (name === undefined) {
    if (names.size >= MAX_NAMED) return { text, values };
    name = `sf_${createHash('sha1').update(text).digest('base64url')}`;
    names.set(text, name);
  }
  return { name, text, values };
}
