// What a sync's `model:` says: a name, package.name, or dbt's own ref('name') / ref('package', 'name'),
// optionally with a model version (ref('name', v=2)).

export interface ModelRef {
  name: string;
  package?: string;
  /** A pinned model version; without it a versioned model resolves to its latest_version, as ref() does. */
  version?: string;
}

const NAME = /^\w+$/;
const QUALIFIED = /^(\w+)\.(\w+)$/;
const REF = /^ref\s*\(([\s\S]*)\)$/;
/** One argument of ref(): a quoted string, or v=/version= with a number or a quoted string. */
const ARGUMENT = /^\s*(?:(v|version)\s*=\s*)?(?:'([^']*)'|"([^"]*)"|(\d+(?:\.\d+)?))\s*$/;

const EXPECTED = "expected a model name (dim_users), package.name (shop.dim_users), or ref('dim_users') / ref('shop', 'dim_users')";

export function parseModelRef(text: string): ModelRef | { error: string } {
  // Copied from a dbt model with its Jinja braces: {{ ref('dim_users') }}.
  const bare = text.trim().replace(/^\{\{\s*([\s\S]*?)\s*\}\}$/, '$1');
  if (NAME.test(bare)) return { name: bare };
  const qualified = QUALIFIED.exec(bare);
  if (qualified) return { package: qualified[1], name: qualified[2] };
  const ref = REF.exec(bare);
  if (!ref) return { error: `"${text}" is not a model reference: ${EXPECTED}` };

  const names: string[] = [];
  let version: string | undefined;
  for (const part of ref[1].split(',')) {
    const argument = ARGUMENT.exec(part);
    if (!argument) return { error: `"${text}": cannot read the argument "${part.trim()}" of ref(): ${EXPECTED}` };
    const [, keyword, single, double, number] = argument;
    const value = single ?? double ?? number;
    if (keyword) version = value;
    else if (number !== undefined || version !== undefined) return { error: `"${text}": ref() takes quoted names first, then v=N` };
    else names.push(value);
  }
  if (names.length === 0 || names.length > 2 || !names.every((name) => NAME.test(name))) {
    return { error: `"${text}": ref() takes one or two quoted names of letters, digits and underscores: ${EXPECTED}` };
  }
  const name = names.length === 2 ? names[1] : names[0];
  return { name, ...(names.length === 2 ? { package: names[0] } : {}), ...(version !== undefined ? { version } : {}) };
}

/** How a reference reads back in messages: shop.dim_users, dim_users v2. */
export function describeRef(ref: ModelRef): string {
  return `${ref.package ? `${ref.package}.` : ''}${ref.name}${ref.version !== undefined ? ` v${ref.version}` : ''}`;
}
