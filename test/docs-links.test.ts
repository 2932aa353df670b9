// Every relative link in the repository's Markdown resolves: to a file or folder inside the repo and,
// with a #fragment, to a heading of that file (GitHub's anchors).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from './helpers/index.js';

const markdownFiles = execFileSync('git', ['ls-files', '*.md'], { cwd: REPO, encoding: 'utf8' }).split('\n').filter(Boolean);

/** GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens. */
function anchor(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function anchorsOf(text: string): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  for (const match of text.replace(/```[\s\S]*?```/g, '').matchAll(/^#{1,6}\s+(.+)$/gm)) {
    const base = anchor(match[1].replace(/`/g, '').replace(/\[([^\]]*)\]\([^)]*\)/g, '$1'));
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    anchors.add(count === 0 ? base : `${base}-${count}`);
  }
  return anchors;
}

/** Fenced code blocks and inline code hold examples, not links. */
function withoutCode(text: string): string {
  return text.replace(/```[\s\S]*?```/g, '').replace(/`[^`\n]*`/g, '');
}

describe('relative links in Markdown files', () => {
  it.each(markdownFiles)('%s: every relative link resolves inside the repository', (file) => {
    const text = fs.readFileSync(path.join(REPO, file), 'utf8');
    const broken: string[] = [];
    for (const [, link] of withoutCode(text).matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
      if (/^[a-z][a-z+.-]*:/i.test(link)) continue; // https:, mailto:
      const [target, fragment] = link.split('#');
      const resolved = target ? path.resolve(REPO, path.dirname(file), decodeURIComponent(target)) : path.join(REPO, file);
      if (!resolved.startsWith(REPO + path.sep) || !fs.existsSync(resolved)) {
        broken.push(`${link}: no such file in the repository`);
        continue;
      }
      if (fragment && resolved.endsWith('.md') && !anchorsOf(fs.readFileSync(resolved, 'utf8')).has(fragment)) broken.push(`${link}: no heading #${fragment}`);
    }
    expect(broken).toEqual([]);
  });
});
