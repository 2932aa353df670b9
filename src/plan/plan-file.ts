// Saved plans (`plan --out FILE`, `sync --plan FILE`): JSON lines, a header then one line per record
// to send, written as the plan streams so a large plan never sits in memory.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import type { Config } from '../config/schema.js';
import { UsageError } from '../errors.js';
import { redact } from '../redact.js';
import type { SendableRecord } from './classify.js';
import { canonicalJson } from '../fingerprint.js';

export const PLAN_FORMAT = 'backflow-plan/1';

export interface PlanHeader {
  format: typeof PLAN_FORMAT;
  createdAt: string;
  /** Hash of the config (secrets redacted first): a saved plan is refused once the config changed. */
  configHash: string;
  /** State generation per planned sync at plan time. */
  generations: Record<string, number>;
}

export interface PlanLine {
  sync: string;
  record: SendableRecord;
}

export function configHash(config: Config): string {
  return createHash('sha256')
    .update(redact(canonicalJson(config)))
    .digest('hex');
}

export class PlanFileWriter {
  private readonly fd: number;

  constructor(
    readonly file: string,
    header: PlanHeader,
  ) {
    try {
      this.fd = fs.openSync(file, 'w', 0o600);
    } catch (error) {
      throw new UsageError(`cannot write the plan to ${file}: ${fileProblem(error as NodeJS.ErrnoException, file)}`);
    }
    this.line(header);
  }

  private line(value: unknown): void {
    fs.writeSync(this.fd, `${redact(JSON.stringify(value))}\n`);
  }

  add(sync: string, record: SendableRecord): void {
    const { key, class: kind, payload, fingerprint, rowHash, cursor, changedAt } = record;
    this.line({ sync, record: { key, class: kind, payload, fingerprint, rowHash, cursor, changedAt } });
  }

  /** Rewrites nothing: generations are known up front; closing makes the file complete. */
  close(): void {
    fs.closeSync(this.fd);
  }
}

/** What the user does about a plan file the system refused, in words. */
function fileProblem(error: NodeJS.ErrnoException, file: string): string {
  switch (error.code) {
    case 'ENOENT':
      return fs.existsSync(path.dirname(path.resolve(file)))
        ? `the file does not exist: make it with backflow plan --out ${file}`
        : `the folder ${path.dirname(file)} does not exist: create it or choose another path`;
    case 'EISDIR':
      return `it is a folder: pass a file name, e.g. ${path.join(file, 'plan.jsonl')}`;
    case 'ENOTDIR':
      return 'a file stands where a folder of the path should be: choose another path';
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      return 'permission denied: choose a path this user can write to';
    default:
      return error.message;
  }
}

export async function readPlanHeader(file: string): Promise<PlanHeader> {
  try {
    const stat = fs.statSync(file);
    if (stat.isDirectory()) throw Object.assign(new Error('is a folder'), { code: 'EISDIR' });
    fs.accessSync(file, fs.constants.R_OK);
  } catch (error) {
    throw new UsageError(`cannot read the plan ${file}: ${fileProblem(error as NodeJS.ErrnoException, file)}`);
  }
  for await (const line of readline.createInterface({ input: fs.createReadStream(file) })) {
    let header: PlanHeader;
    try {
      header = JSON.parse(line) as PlanHeader;
    } catch {
      throw new UsageError(`${file}:1: not a Backflow plan file (the first line is not JSON)`);
    }
    if (header.format !== PLAN_FORMAT) throw new UsageError(`${file}:1: not a Backflow plan file (expected format ${PLAN_FORMAT})`);
    return header;
  }
  throw new UsageError(`${file}: empty file, not a Backflow plan`);
}

/** Streams the records of one sync from a plan file, in batches. */
export async function* readPlanRecords(file: string, sync: string, batchSize = 500): AsyncGenerator<SendableRecord[]> {
  let batch: SendableRecord[] = [];
  let lineNumber = 0;
  for await (const line of readline.createInterface({ input: fs.createReadStream(file) })) {
    lineNumber++;
    if (lineNumber === 1 || line.trim() === '') continue;
    let entry: PlanLine;
    try {
      entry = JSON.parse(line) as PlanLine;
    } catch {
      throw new UsageError(`${file}:${lineNumber}: damaged plan line (not JSON); make the plan again`);
    }
    if (entry.sync !== sync) continue;
    if (!isSendableLine(entry.record)) throw new UsageError(`${file}:${lineNumber}: damaged plan line (not a record to send); make the plan again`);
    batch.push(entry.record);
    if (batch.length >= batchSize) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}

/** A plan line holds a record to send: a key, a sendable class, a fingerprint (its payload may be any JSON). */
function isSendableLine(record: Partial<SendableRecord> | undefined): record is SendableRecord {
  return (
    typeof record?.key === 'string' &&
    (record.class === 'added' || record.class === 'changed' || record.class === 'retry') &&
    typeof record.fingerprint === 'string' &&
    typeof record.changedAt === 'string'
  );
}

/** How many records a plan file holds for one sync (one line each), for a progress total. */
export async function countPlanRecords(file: string, sync: string): Promise<number> {
  // Lines are written as {"sync":…,"record":…}: the prefix names the sync without parsing the payload.
  const prefix = `{"sync":${JSON.stringify(sync)},`;
  let count = 0;
  for await (const line of readline.createInterface({ input: fs.createReadStream(file) })) if (line.startsWith(prefix)) count++;
  return count;
}
