// Asking a person before a command forgets state, as terraform does before destroy: only on a
// terminal (stdin and stderr), and only the word "yes" confirms. Without a terminal there is nobody
// to ask, so the command needs --yes instead (a script states its intent).
import readline from 'node:readline/promises';
import { redact } from '../redact.js';

/** Whether a person can be asked: stdin and stderr are a terminal. */
export function canAsk(): boolean {
  return Boolean(process.stdin.isTTY && process.stderr.isTTY);
}

/** Asks `question` on stderr; true only when the answer is "yes". */
export async function confirm(question: string): Promise<boolean> {
  const prompt = readline.createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await prompt.question(`${redact(question)}\n  Only 'yes' will be accepted to confirm.\n\n  Enter a value: `);
    return answer.trim() === 'yes';
  } finally {
    prompt.close();
  }
}
