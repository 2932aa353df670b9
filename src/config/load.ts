// Reads backflow.yaml: YAML with positions, env interpolation, one schema pass that reports every
// problem at once as file:line:column, and the list of secret values to redact everywhere.
import fs from 'node:fs';
import path from 'node:path';
import { isMap, isScalar, LineCounter, parseDocument, Scalar, visit, type Document, type Node } from 'yaml';
import { z } from 'zod';
import { connectorFor } from '../../connectors/index.js';
import { resolveModels } from '../dbt/config.js';
import { ConfigError, type ConfigIssue } from '../errors.js';
import type { DbtManifest } from '../dbt/manifest.js';
import { sourceTypeFor } from '../sources/index.js';
import { DEFAULT_STATE_PATH, describeStateLocation, type StateLocation } from '../state/location.js';
import { interpolate } from './env.js';
import { referenceIssues } from './references.js';
import { configSchema, type Config } from './schema.js';

export interface LoadedConfig {
  config: Config;
  /** The config file, as given. */
  file: string;
  /** Directory that relative paths in the config are resolved against. */
  dir: string;
  /** Values that must never be printed, logged or stored. */
  secrets: string[];
  /** Absolute path of the state file (SQLite), or where the PostgreSQL state is, for messages. */
  statePath: string;
  /** Where the state is: a SQLite file, or a PostgreSQL schema (fleet mode). */
  stateLocation: StateLocation;
  /** The dbt manifest named by `dbt.manifest`, indexed (for --dbt-run-results). */
  dbtManifest?: DbtManifest;
  /**
   * Unset variables left unresolved because the command never connects (`connects: false`); their
   * sources, destinations and alerts are then only checked for their type, and must not be used.
   */
  unresolved: string[];
}

export interface LoadOptions {
  /**
   * False for commands that only read or change the state (status, runs, rejected, reset, unlock):
   * an unset variable in a source, destination or alert is then no error, so reading history needs
   * no warehouse URL or API key. Default true.
   */
  connects?: boolean;
  /** Values put in place of the file's before interpolation (`backflow sandbox`): see ConfigOverrides. */
  overrides?: ConfigOverrides;
}

/**
 * What `backflow sandbox` changes in a user's config: each destination's settings (base URL, fake
 * credentials) replaced before `${VAR}` interpolation, so their variables need not be set; alerts
 * dropped (a sandbox run must reach no real endpoint); the daemon on a free port; another state file.
 */
export interface ConfigOverrides {
  destinations: Record<string, Record<string, string>>;
  statePath: string;
}

/** The parts of a config that connect somewhere; only a command that connects needs their variables. */
const CONNECTING_PARTS = new Set(['sources', 'destinations', 'alerts']);

/**
 * The schema for a command that never connects: sources, destinations and alerts checked only for
 * their type (what the state's commands read of them), everything else as strictly as ever.
 */
const offlineSchema = configSchema.extend({
  sources: z.record(z.string(), z.looseObject({ type: z.string() })),
  destinations: z.record(z.string(), z.looseObject({ type: z.string() })),
  alerts: z.array(z.unknown()).default([]),
});

type PathKey = string | number;

function formatPath(parts: readonly PropertyKey[]): string {
  return parts.reduce<string>((text, part) => {
    if (typeof part === 'number') return `${text}[${part}]`;
    return text ? `${text}.${String(part)}` : String(part);
  }, '');
}

/** The node at `parts`, or the deepest ancestor that exists (a missing key points at its parent). */
function nodeAt(doc: Document, parts: readonly PropertyKey[]): Node | undefined {
  for (let depth = parts.length; depth >= 0; depth--) {
    const node = depth === 0 ? doc.contents : doc.getIn(parts.slice(0, depth) as PathKey[], true);
    if (node && typeof node === 'object' && 'range' in node) return node as Node;
  }
  return undefined;
}

/** The key node of `key` in the map at `parts` (for unknown-key errors). */
function keyNodeAt(doc: Document, parts: readonly PropertyKey[], key: string): Node | undefined {
  const map = parts.length === 0 ? doc.contents : doc.getIn(parts as PathKey[], true);
  if (!isMap(map)) return undefined;
  const pair = map.items.find((item) => isScalar(item.key) && item.key.value === key);
  return (pair?.key as Node | undefined) ?? undefined;
}

/** Of a union's failed branches, the one that matched the input's shape best. */
function bestBranch(branches: z.core.$ZodIssue[][]): z.core.$ZodIssue[] {
  const score = (issues: z.core.$ZodIssue[]) =>
    issues.some((issue) => issue.code === 'invalid_type' && issue.path.length === 0) ? 1000 + issues.length : issues.length;
  return [...branches].sort((a, b) => score(a) - score(b))[0] ?? [];
}

function flatten(issues: readonly z.core.$ZodIssue[], prefix: readonly PropertyKey[] = []): { path: PropertyKey[]; issue: z.core.$ZodIssue }[] {
  return issues.flatMap((issue) => {
    const full = [...prefix, ...issue.path];
    if (issue.code === 'invalid_union' && issue.errors.length > 0) return flatten(bestBranch(issue.errors), full);
    return [{ path: full, issue }];
  });
}

export function parseConfig(text: string, file: string, env: NodeJS.ProcessEnv = process.env, options: LoadOptions = {}): LoadedConfig {
  const connects = options.connects ?? true;
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const issues: ConfigIssue[] = [];
  const at = (offset: number, parts: readonly PropertyKey[], message: string) => {
    const { line, col } = lineCounter.linePos(offset);
    issues.push({ file, line, column: col, path: formatPath(parts), message });
  };

  if (doc.errors.length > 0) {
    // An unquoted ${VAR} inside { } opens a nested flow map and derails the rest of the file: one
    // line per such value with the fix, instead of every error that follows from it.
    const unquoted = unquotedFlowVariables(text);
    if (unquoted.length > 0) {
      for (const { offset, value } of unquoted)
        at(offset, [], `YAML syntax: ${value} inside { } must be quoted: write "${value}" (an unquoted { starts a nested map)`);
    } else for (const error of doc.errors) at(error.pos[0], [], `YAML syntax: ${error.message.split('\n')[0]}`);
    throw new ConfigError(issues);
  }
  if (doc.contents === null) {
    at(0, [], 'the config file is empty: start from config.example.yaml (cp config.example.yaml backflow.yaml) and edit it');
    throw new ConfigError(issues);
  }

  if (options.overrides) applyOverrides(doc, options.overrides);

  // Interpolate ${VAR} in values (never keys), remembering where each problem stands. A command that
  // never connects leaves a connecting part's unset variable unresolved (and its value empty).
  const unresolved = new Set<string>();
  const unresolvedNodes = new Set<Node>();
  visit(doc, {
    Scalar(key, node, ancestry) {
      if (key === 'key' || typeof node.value !== 'string' || !node.value.includes('$')) return;
      const result = interpolate(node.value, env);
      const quoted = node.type === Scalar.QUOTE_DOUBLE || node.type === Scalar.QUOTE_SINGLE ? 1 : 0;
      const parts = ancestry.flatMap((item) => (isScalar((item as { key?: unknown }).key) ? [String((item as { key: Scalar }).key.value)] : []));
      for (const problem of result.problems) {
        if (!connects && problem.unset && CONNECTING_PARTS.has(parts[0] ?? '')) {
          unresolved.add(problem.unset);
          unresolvedNodes.add(node);
          continue;
        }
        at((node.range?.[0] ?? 0) + quoted + problem.offset, parts, problem.message);
      }
      node.value = result.value;
    },
  });

  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 100 }) ?? {};
  } catch (error) {
    // An alias whose anchor is missing, or aliases that expand without bound: point at the first alias.
    let offset = 0;
    visit(doc, {
      Alias(_, node) {
        offset = node.range?.[0] ?? 0;
        return visit.BREAK;
      },
    });
    at(offset, [], `YAML: ${(error as Error).message}`);
    throw new ConfigError(issues);
  }
  const parsed = configSchema.safeParse(raw, { reportInput: true });
  // A value that already failed interpolation needs no second message from the schema; nor does one
  // left unresolved on purpose.
  const reported = new Set(issues.map((issue) => issue.path));
  const isUnresolved = (parts: readonly PropertyKey[]) => {
    const node = parts.length > 0 ? doc.getIn(parts as PathKey[], true) : undefined;
    return unresolvedNodes.has(node as Node);
  };
  if (!parsed.success) {
    for (const { path: parts, issue } of flatten(parsed.error.issues)) {
      if (reported.has(formatPath(parts)) || isUnresolved(parts)) continue;
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) {
          const node = keyNodeAt(doc, parts, key) ?? nodeAt(doc, parts);
          at(node?.range?.[0] ?? 0, [...parts, key], `unknown key "${key}": remove it or check its spelling`);
        }
        continue;
      }
      const node = nodeAt(doc, parts);
      const missing = issue.code === 'invalid_type' && issue.input === undefined;
      at(node?.range?.[0] ?? 0, parts, missing ? `required: ${issue.message.replace(/^Invalid input: /, '')}` : issue.message.replace(/^Invalid input: /, ''));
    }
  }
  for (const issue of referenceIssues(raw)) at(nodeAt(doc, issue.path)?.range?.[0] ?? 0, issue.path, issue.message);
  const dir = path.dirname(path.resolve(file));
  const dbt = resolveModels(raw, dir);
  for (const issue of dbt.issues) at(nodeAt(doc, issue.path)?.range?.[0] ?? 0, issue.path, issue.message);
  if (issues.length > 0) {
    issues.sort((a, b) => a.line - b.line || a.column - b.column);
    throw new ConfigError(issues);
  }

  // Every issue left was at an unresolved value: the offline schema reads what such a command needs.
  const config = (parsed.success ? parsed.data : offlineSchema.parse(raw)) as Config;
  // A dbt model becomes the query the engine runs; the relation name is dbt's, quoted for its adapter.
  for (const [index, { model, primaryKey }] of dbt.models) {
    const sync = config.syncs[index];
    sync.query = `select * from ${model.relation}`;
    sync.dbtModel = model;
    if (primaryKey) sync.primaryKey = primaryKey;
  }
  // A source with its own key and change order (segment) fills what the sync left out; references
  // already refused a missing primaryKey for every other source.
  for (const sync of config.syncs) {
    const defaults = sourceTypeFor((config.sources[sync.source] as { type: string }).type).defaults;
    if (defaults) {
      sync.primaryKey ??= defaults.primaryKey;
      if (defaults.cursor) sync.cursor ??= defaults.cursor;
    }
    // No mapping: the connector's suggested mapping from common column names.
    sync.mapping ??= { ...connectorFor((config.destinations[sync.destination] as { type: string }).type).defaults.mapping };
  }
  return {
    config,
    file,
    dir,
    secrets: secretValues(config),
    ...stateOf(config, dir, options.overrides),
    dbtManifest: dbt.manifest,
    unresolved: [...unresolved],
  };
}

function applyOverrides(doc: Document, overrides: ConfigOverrides): void {
  for (const [name, settings] of Object.entries(overrides.destinations)) {
    for (const [key, value] of Object.entries(settings)) doc.setIn(['destinations', name, key], value);
  }
  if (doc.hasIn(['alerts'])) doc.setIn(['alerts'], doc.createNode([]));
  doc.setIn(['daemon', 'listen'], '127.0.0.1:0');
}

/** Where an unquoted `${VAR}` follows a `{` on its line: YAML reads it as a nested flow map. */
function unquotedFlowVariables(text: string): { offset: number; value: string }[] {
  const found: { offset: number; value: string }[] = [];
  let lineStart = 0;
  for (const line of text.split('\n')) {
    const code = line.replace(/\s#.*$/, '');
    const open = code.indexOf('{');
    for (const match of open < 0 ? [] : code.slice(open + 1).matchAll(/(^|[\s,:])(\$\{[^}]*\})/g)) {
      found.push({ offset: lineStart + open + 1 + match.index + match[1].length, value: match[2] });
    }
    lineStart += line.length + 1;
  }
  return found;
}

function unreadableConfig(error: NodeJS.ErrnoException, file: string): string {
  switch (error.code) {
    case 'ENOENT':
      return `cannot read the config: file not found (pass --config PATH, or start from config.example.yaml)`;
    case 'EISDIR':
      return `cannot read the config: ${file} is a folder, not a file (pass the YAML file, e.g. --config ${path.join(file, 'backflow.yaml')})`;
    case 'EACCES':
      return `cannot read the config: permission denied (make the file readable by this user)`;
    default:
      return `cannot read the config: ${error.message} (pass --config PATH)`;
  }
}

export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env, options: LoadOptions = {}): LoadedConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError([{ file, line: 1, column: 1, path: '', message: unreadableConfig(error as NodeJS.ErrnoException, file) }]);
  }
  return parseConfig(text, file, env, options);
}

/**
 * Every secret value in the config: connector secrets, source secrets with their passwords, and each
 * alert's URL (a Slack webhook URL carries its token) and signing secret.
 */
function secretValues(config: Config): string[] {
  const values = new Set<string>();
  for (const destination of Object.values<Record<string, unknown>>(config.destinations)) {
    for (const key of connectorFor(destination.type as string).secrets) {
      if (typeof destination[key] === 'string') values.add(destination[key]);
    }
  }
  for (const source of Object.values<Record<string, unknown>>(config.sources)) {
    for (const key of sourceTypeFor(source.type as string).secrets) {
      const value = source[key];
      for (const item of Array.isArray(value) ? value : [value]) {
        if (typeof item !== 'string') continue;
        values.add(item);
        const password = urlPassword(item);
        if (password) values.add(password);
      }
    }
  }
  if (config.state.url) {
    values.add(config.state.url);
    const password = urlPassword(config.state.url);
    if (password) values.add(password);
  }
  for (const alert of config.alerts) {
    values.add(alert.url);
    const password = urlPassword(alert.url);
    if (password) values.add(password);
    if (alert.type === 'webhook' && alert.secret) values.add(alert.secret);
  }
  return [...values];
}

/** The state's location: a sandbox's own file, the PostgreSQL schema of state.url, or the SQLite file. */
function stateOf(config: Config, dir: string, overrides: ConfigOverrides | undefined): { statePath: string; stateLocation: StateLocation } {
  if (!overrides?.statePath && config.state.url) {
    const location = { kind: 'postgres' as const, url: config.state.url, schema: config.state.schema };
    return { statePath: describeStateLocation(location), stateLocation: location };
  }
  const file = overrides?.statePath ?? path.resolve(dir, config.state.path ?? DEFAULT_STATE_PATH);
  return { statePath: file, stateLocation: { kind: 'sqlite', path: file } };
}

function urlPassword(text: string): string | undefined {
  try {
    const password = decodeURIComponent(new URL(text).password);
    return password || undefined;
  } catch {
    return undefined;
  }
}
