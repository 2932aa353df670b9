// `${VAR}` and `${VAR:-default}` interpolation, the one way Backflow reads env vars for a config.

export interface EnvProblem {
  /** Offset of the reference inside the scalar text. */
  offset: number;
  message: string;
  /** Set when the problem is only that this variable is unset (a command that never connects may not need it). */
  unset?: string;
}

export interface Interpolated {
  value: string;
  /** Names of the variables this value read (their values may be secrets). */
  variables: string[];
  problems: EnvProblem[];
}

const REFERENCE = /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{[^}]*\}?/g;

/** Replaces every reference in `text`; `$$` is a literal `$`. Unset variables without a default are problems. */
export function interpolate(text: string, env: NodeJS.ProcessEnv): Interpolated {
  const variables: string[] = [];
  const problems: EnvProblem[] = [];
  const value = text.replace(REFERENCE, (match, name: string | undefined, fallback: string | undefined, offset: number) => {
    if (match === '$$') return '$';
    if (!name) {
      problems.push({ offset, message: `"${match}" is not a valid reference: write \${NAME} or \${NAME:-default}` });
      return match;
    }
    variables.push(name);
    const set = env[name];
    if (set !== undefined && set !== '') return set;
    if (fallback !== undefined) return fallback;
    problems.push({
      offset,
      message: `environment variable ${name} is not set: export it, or give a default with \${${name}:-value}`,
      unset: name,
    });
    return '';
  });
  return { value, variables, problems };
}
