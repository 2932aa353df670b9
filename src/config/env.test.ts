// `${VAR}` interpolation, the one way a config reads the environment: defaults, `$$`, unset and
// empty variables, and references that are not references.
import { describe, expect, it } from 'vitest';
import { interpolate } from './env.js';

describe('interpolate', () => {
  it('replaces ${VAR} and names every variable it read', () => {
    expect(interpolate('postgres://${USER}:${PASSWORD}@db/dw', { USER: 'reader', PASSWORD: 's3cr3t' })).toEqual({
      value: 'postgres://reader:s3cr3t@db/dw',
      variables: ['USER', 'PASSWORD'],
      problems: [],
    });
  });

  it('uses the default of ${VAR:-default} when the variable is unset or empty, and the variable when set', () => {
    expect(interpolate('${PORT:-8088}', {}).value).toBe('8088');
    expect(interpolate('${PORT:-8088}', { PORT: '' }).value).toBe('8088');
    expect(interpolate('${PORT:-8088}', { PORT: '9000' }).value).toBe('9000');
    expect(interpolate('${EMPTY:-}', {})).toEqual({ value: '', variables: ['EMPTY'], problems: [] });
  });

  it('reads $$ as a literal dollar sign, so a value can hold ${ without a reference', () => {
    expect(interpolate('price: $$5 and $${NOT_A_VAR}', {})).toEqual({ value: 'price: $5 and ${NOT_A_VAR}', variables: [], problems: [] });
  });

  it('reports an unset variable without a default at its offset, saying how to fix it, and names it', () => {
    expect(interpolate('key ${API_KEY}', {})).toEqual({
      value: 'key ',
      variables: ['API_KEY'],
      problems: [{ offset: 4, message: 'environment variable API_KEY is not set: export it, or give a default with ${API_KEY:-value}', unset: 'API_KEY' }],
    });
    expect(interpolate('${API_KEY}', { API_KEY: '' }).problems).toHaveLength(1);
  });

  it('reports a reference that is not one, and leaves it as written', () => {
    for (const text of ['${}', '${1ABC}', '${A-B}', '${UNCLOSED']) {
      const result = interpolate(text, {});
      expect(result.value, text).toBe(text);
      expect(result.problems, text).toEqual([{ offset: 0, message: `"${text}" is not a valid reference: write \${NAME} or \${NAME:-default}` }]);
    }
  });

  it('leaves text without references alone', () => {
    expect(interpolate('plain $text {braces}', {})).toEqual({ value: 'plain $text {braces}', variables: [], problems: [] });
  });
});
