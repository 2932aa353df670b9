// The one place secrets are scrubbed from text: every message, log line and output passes here.

const secrets = new Set<string>();

/** Secrets shorter than this are not matched: they would mangle ordinary words and protect nothing. */
const MIN_LENGTH = 4;

/** Registers values to hide, with the encodings they travel in (Basic auth base64). */
export function registerSecrets(values: Iterable<string>): void {
  for (const value of values) {
    if (value.length < MIN_LENGTH) continue;
    secrets.add(value);
    secrets.add(Buffer.from(`${value}:`).toString('base64'));
    secrets.add(Buffer.from(value).toString('base64'));
    secrets.add(encodeURIComponent(value));
  }
}

export function redact(text: string): string {
  let result = text;
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) {
    if (result.includes(secret)) result = result.split(secret).join('***');
  }
  return result;
}

/** Redacts every string inside a JSON-like value. */
export function redactDeep<T>(value: T): T {
  return JSON.parse(redact(JSON.stringify(value))) as T;
}
