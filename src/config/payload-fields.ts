// Whether a dotted mapping target names a field of a connector's payload schema.
import type { z } from 'zod';

type Def = { type: string; shape?: Record<string, z.ZodType>; innerType?: z.ZodType; in?: z.ZodType; out?: z.ZodType; catchall?: z.ZodType };

/** Looks through wrappers (optional, default, pipe…) to the schema that decides the shape. */
function unwrap(schema: z.ZodType): Def {
  let def = (schema as unknown as { _zod: { def: Def } })._zod.def;
  for (;;) {
    if (def.innerType) def = (def.innerType as unknown as { _zod: { def: Def } })._zod.def;
    else if (def.type === 'pipe' && def.in) def = (def.in as unknown as { _zod: { def: Def } })._zod.def;
    else return def;
  }
}

/** undefined when `target` (e.g. "tags.plan") exists in `payload`; else what fields there are. */
export function fieldExists(payload: z.ZodType, target: string): string | undefined {
  let def = unwrap(payload);
  for (const part of target.split('.')) {
    if (def.type === 'record' || def.type === 'unknown' || def.type === 'any') return undefined;
    if (def.type !== 'object' || !def.shape) return `"${part}" is inside a field that is not an object`;
    const field = def.shape[part];
    if (!field) {
      const catchall = def.catchall && unwrap(def.catchall).type;
      if (catchall && catchall !== 'never') return undefined;
      return `expected one of ${Object.keys(def.shape).join(', ')}`;
    }
    def = unwrap(field);
  }
  return undefined;
}
