// The configs the dbt tests write: a warehouse source, a GamifyHost destination, a dbt manifest, and
// syncs that read models.
export function dbtConfig(options: { url: string; source?: string; syncs: string; manifest?: string }): string {
  return `version: 1
state: { path: ./state.db }
dbt:
  manifest: ${options.manifest ?? './target/manifest.json'}
sources:
  warehouse: ${options.source ?? '{ type: sqlite, path: ./warehouse.db }'}
destinations:
  gamify:
    type: gamifyhost
    apiKey: pk_test_secret_key_123
    baseUrl: ${options.url}
    rateLimit: { requestsPerSecond: 500 }
    retry: { attempts: 2, baseDelayMs: 10, maxDelaySeconds: 5 }
syncs:
${options.syncs}`;
}

/** One sync entry reading `model`, mapped to GamifyHost; `extra` lines go in as they are. */
export function modelSync(name: string, model: string, extra = '', externalId = 'id'): string {
  return `  - name: ${name}
    source: warehouse
    model: ${model}
    destination: gamify
${extra}    mapping:
      externalId: ${externalId}
      email: email
      displayName: name
`;
}
