// Which upstream outputs may feed an input: the same rule as the server's validation
// (src/flowui/workflows/validate.py): every JSON type the output may take must be one the input
// accepts (an integer fits a number; arrays compare their items; an optional output may feed a
// required input; an unconstrained schema fits anything).
import type { JsonSchema } from "./types";

type Alternatives = [string, JsonSchema][] | null; // null: any type
type Defs = Record<string, unknown> | undefined;

function isObject(value: unknown): value is JsonSchema {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function jsonType(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "boolean") return "boolean";
  if (typeof value === "number") return Number.isInteger(value) ? "integer" : "number";
  if (typeof value === "string") return "string";
  return Array.isArray(value) ? "array" : "object";
}

function resolveRef(reference: string, defs: Defs): unknown {
  const prefix = "#/$defs/";
  if (!reference.startsWith(prefix) || !defs) return undefined;
  return defs[reference.slice(prefix.length).replace(/~1/g, "/").replace(/~0/g, "~")];
}

/** The JSON types a schema allows, each with its resolved schema; null when unconstrained. */
export function alternatives(schema: unknown, defs: Defs, depth = 0): Alternatives {
  if (!isObject(schema) || depth > 32) return null;
  if (typeof schema.$ref === "string") return alternatives(resolveRef(schema.$ref, defs), defs, depth + 1);
  for (const combinator of ["anyOf", "oneOf"]) {
    const options = schema[combinator];
    if (Array.isArray(options)) {
      const found: [string, JsonSchema][] = [];
      for (const option of options) {
        const resolved = alternatives(option, defs, depth + 1);
        if (resolved === null) return null;
        found.push(...resolved);
      }
      return found;
    }
  }
  if (Array.isArray(schema.allOf) && schema.allOf.length === 1) return alternatives(schema.allOf[0], defs, depth + 1);
  const declared = schema.type;
  if (typeof declared === "string") return [[declared, schema]];
  if (Array.isArray(declared))
    return declared.filter((t): t is string => typeof t === "string").map((t) => [t, schema]);
  let values = Array.isArray(schema.enum) ? schema.enum : null;
  if (values === null && "const" in schema) values = [schema.const];
  if (values && values.length) return [...new Set(values.map(jsonType))].map((t) => [t, schema]);
  return null;
}

export function fits(source: Alternatives, target: Alternatives, sourceDefs: Defs, targetDefs: Defs): boolean {
  if (source === null || target === null) return true;
  const typed = source.filter(([type]) => type !== "null");
  const options = typed.length ? typed : source;
  return options.every((option) => target.some((candidate) => fitsOne(option, candidate, sourceDefs, targetDefs)));
}

function fitsOne(
  [sourceType, sourceSchema]: [string, JsonSchema],
  [targetType, targetSchema]: [string, JsonSchema],
  sourceDefs: Defs,
  targetDefs: Defs,
): boolean {
  if (sourceType === "array" && targetType === "array") {
    return fits(
      alternatives(sourceSchema.items, sourceDefs),
      alternatives(targetSchema.items, targetDefs),
      sourceDefs,
      targetDefs,
    );
  }
  return sourceType === targetType || (sourceType === "integer" && targetType === "number");
}

/** A short name of what a schema takes: "string", "integer or null", "array of string", "any". */
export function typeLabel(schema: unknown, defs: Defs): string {
  const types = alternatives(schema, defs);
  if (types === null) return "any";
  return [
    ...new Set(
      types.map(([type, sub]) => {
        if (type !== "array") return type;
        const items = alternatives(sub.items, defs);
        return items === null ? "array" : `array of ${[...new Set(items.map(([t]) => t))].join(" or ")}`;
      }),
    ),
  ].join(" or ");
}

export interface UpstreamCandidate {
  taskId: string;
  /** The upstream operator's output JSON Schema (null or undefined when unknown). */
  outputSchema: JsonSchema | null | undefined;
}

export interface CompatibleOutput {
  taskId: string;
  output: string;
  type: string;
}

/**
 * The outputs of the candidate (upstream) tasks whose type fits an input. `inputSchema` is the
 * input's property schema, `inputDefs` the $defs of the operator's whole input schema.
 */
export function compatibleOutputs(
  inputSchema: unknown,
  inputDefs: Defs,
  candidates: readonly UpstreamCandidate[],
): CompatibleOutput[] {
  const target = alternatives(inputSchema, inputDefs);
  const found: CompatibleOutput[] = [];
  for (const { taskId, outputSchema } of candidates) {
    if (!outputSchema) continue;
    const properties = isObject(outputSchema.properties) ? outputSchema.properties : {};
    const defs = isObject(outputSchema.$defs) ? outputSchema.$defs : undefined;
    for (const [output, schema] of Object.entries(properties)) {
      if (fits(alternatives(schema, defs), target, defs, inputDefs)) {
        found.push({ taskId, output, type: typeLabel(schema, defs) });
      }
    }
  }
  return found;
}
