import { z } from 'zod';

/**
 * The fields of a payload schema as Markdown table rows, read off the JSON Schema zod derives
 * from the schema the workers validate with (the same one docs/asyncapi.yaml carries), so the
 * constraints in the docs are the ones enforced.
 */
export interface JsonSchema {
  type?: string;
  const?: unknown;
  enum?: unknown[];
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  items?: JsonSchema;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: unknown;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  minItems?: number;
  maxItems?: number;
  'x-rules'?: string[];
  $schema?: string;
}

export interface FieldRow {
  field: string;
  type: string;
  required: boolean;
  rules: string;
}

export function payloadJsonSchema(schema: z.ZodType): JsonSchema {
  const json = z.toJSONSchema(schema, { target: 'draft-7', unrepresentable: 'any' }) as JsonSchema;
  delete json.$schema;
  return json;
}

const code = (v: unknown) => `\`${typeof v === 'string' ? v : JSON.stringify(v)}\``;

function typeOf(s: JsonSchema): string {
  if (s.const !== undefined) return `${s.type ?? 'string'} ${code(s.const)}`;
  if (s.enum) return `one of ${s.enum.map(code).join(', ')}`;
  if (s.anyOf) return s.anyOf.map(typeOf).join(' or ');
  if (s.type === 'array') return `array of ${typeOf(s.items ?? {})}`;
  return s.type ?? 'any JSON';
}

function rulesOf(s: JsonSchema): string {
  const r: string[] = [];
  if (s.pattern !== undefined) r.push(`pattern ${code(s.pattern)}`);
  if (s.minLength !== undefined) r.push(`at least ${s.minLength} chars`);
  if (s.maxLength !== undefined) r.push(`at most ${s.maxLength} chars`);
  if (s.exclusiveMinimum !== undefined) r.push(`> ${s.exclusiveMinimum}`);
  if (s.minimum !== undefined && s.minimum !== Number.MIN_SAFE_INTEGER) r.push(`>= ${s.minimum}`);
  if (s.maximum !== undefined && s.maximum !== Number.MAX_SAFE_INTEGER) r.push(`<= ${s.maximum}`);
  if (s.minItems !== undefined) r.push(`at least ${s.minItems} items`);
  if (s.maxItems !== undefined) r.push(`at most ${s.maxItems} items`);
  if (s['x-rules']) r.push(...s['x-rules']);
  return r.join('; ');
}

function objectOf(s: JsonSchema): JsonSchema | undefined {
  if (s.type === 'object') return s;
  if (s.type === 'array' && s.items?.type === 'object') return s.items;
  return undefined;
}

/** Rows for every field, nested ones as `lines[].quantity` and `data.orderId`. */
export function fieldRows(schema: JsonSchema, prefix = ''): FieldRow[] {
  const props = schema.properties ?? {};
  const required = new Set(schema.required ?? []);
  const rows: FieldRow[] = [];
  for (const [name, s] of Object.entries(props)) {
    const field = `${prefix}${name}`;
    rows.push({ field, type: typeOf(s), required: required.has(name), rules: rulesOf(s) });
    const nested = objectOf(s);
    if (nested) rows.push(...fieldRows(nested, s.type === 'array' ? `${field}[].` : `${field}.`));
  }
  return rows;
}

/** Whether the schema (and each nested object) refuses fields it does not name. */
export function refusesUnknownFields(schema: JsonSchema): boolean {
  const variants = schema.oneOf ?? [schema];
  return variants.every((v) => v.additionalProperties === false);
}

function table(rows: FieldRow[]): string[] {
  const cell = (v: string) => v.replace(/\|/g, '\\|');
  return ['| field | type | required | rules |', '|---|---|---|---|', ...rows.map((r) => `| \`${r.field}\` | ${cell(r.type)} | ${r.required ? 'yes' : 'no'} | ${cell(r.rules)} |`)];
}

/** The Markdown of a payload's fields: one table, or one per variant of a union. */
export function fieldTables(schema: JsonSchema): string[] {
  const lines: string[] = [];
  if (schema['x-rules']) lines.push(`Also: ${schema['x-rules'].join('; ')}.`, '');
  if (!schema.oneOf) return [...lines, ...table(fieldRows(schema))];
  for (const variant of schema.oneOf) {
    const discriminator = Object.entries(variant.properties ?? {}).find(([, s]) => s.const !== undefined);
    lines.push(discriminator ? `With \`${discriminator[0]}\` = ${code(discriminator[1].const)}:` : 'Or:', '', ...table(fieldRows(variant)), '');
  }
  return lines.slice(0, -1);
}
