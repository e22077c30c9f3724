// Reads the bootstrap corpus: JSON lines of {"turns":[{"role":"user"|"bot","text":"..."}]}.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Turn } from '../model/tokenizer.ts';

/** Parses a corpus file; any bad line is an error naming the file and line. Blank lines are skipped. */
export function loadCorpus(path: string | URL): Turn[][] {
  const file = path instanceof URL ? fileURLToPath(path) : path;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`Cannot read corpus ${file} (${(err as Error).message}); regenerate it with \`npm run make-corpus\``);
  }
  const dialogues: Turn[][] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    try {
      dialogues.push(parseDialogue(line));
    } catch (err) {
      throw new Error(`${file} line ${i + 1}: ${(err as Error).message}; fix or remove that line`);
    }
  });
  if (dialogues.length === 0) throw new Error(`${file} holds no dialogues; regenerate it with \`npm run make-corpus\``);
  return dialogues;
}

function parseDialogue(line: string): Turn[] {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new Error('not valid JSON');
  }
  const turns = (value as { turns?: unknown } | null)?.turns;
  if (!Array.isArray(turns) || turns.length === 0) throw new Error('expected {"turns":[...]} with at least one turn');
  const out = turns.map((t: unknown, j): Turn => {
    const { role, text } = (t ?? {}) as { role?: unknown; text?: unknown };
    if (role !== 'user' && role !== 'bot') throw new Error(`turns[${j}].role must be "user" or "bot", got ${JSON.stringify(role)}`);
    if (typeof text !== 'string' || text.trim() === '') throw new Error(`turns[${j}].text must be a non-empty string`);
    return { role, text };
  });
  if (!out.some((t) => t.role === 'bot')) throw new Error('a dialogue needs at least one bot turn to learn from');
  return out;
}
