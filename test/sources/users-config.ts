// The sync config both source suites use: the contract users mapped to GamifyHost, one sync "users".
export const USERS_MAPPING = `
    mapping:
      externalId: id
      displayName: name
      email: email
      country: { column: country, transform: upper }
      tags.plan: plan
      tags.tier: attrs.tier
      metadata.nickname: nickname
      metadata.balance: { column: balance, transform: number }
      metadata.visits: visits
      metadata.birthday: birthday
      metadata.updatedAt: { column: updated_at, transform: iso8601 }`;

export interface UsersSync {
  query?: string;
  cursor?: string;
  batchSize?: number;
  /** Lines added to the sync, each starting with a newline and four spaces. */
  extra?: string;
  mapping?: string;
}

export function usersConfig(source: string, sync: UsersSync = {}): string {
  return `
version: 1
state: { path: ./state.db }
sources:
  warehouse: ${source}
destinations:
  gamify:
    type: gamifyhost
    apiKey: \${GAMIFY_KEY}
    baseUrl: \${GAMIFY_URL}
    rateLimit: { requestsPerSecond: 1000 }
    retry: { attempts: 2, baseDelayMs: 10 }
syncs:
  - name: users
    source: warehouse
    query: "${sync.query ?? 'select * from users order by id'}"
    primaryKey: id
    destination: gamify
    batchSize: ${sync.batchSize ?? 4}${sync.cursor ? `\n    cursor: ${sync.cursor}` : ''}${sync.extra ?? ''}${sync.mapping ?? USERS_MAPPING}
`;
}
