import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadCorpus } from '../src/learn/corpus.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'corpus-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function corpusFile(lines: string[]): string {
  const file = path.join(dir, `c${Math.random().toString(36).slice(2)}.jsonl`);
  writeFileSync(file, lines.join('\n'));
  return file;
}
const good = JSON.stringify({ turns: [{ role: 'user', text: 'hi' }, { role: 'bot', text: 'Hello!' }] });

describe('loadCorpus', () => {
  it('reads dialogues and skips blank lines', () => {
    const dialogues = loadCorpus(corpusFile([good, '', good, '']));
    expect(dialogues).toEqual([
      [{ role: 'user', text: 'hi' }, { role: 'bot', text: 'Hello!' }],
      [{ role: 'user', text: 'hi' }, { role: 'bot', text: 'Hello!' }],
    ]);
  });

  const bad: [string, string, RegExp][] = [
    ['invalid JSON', '{"turns": [', /line 2: not valid JSON/],
    ['no turns', '{"dialogue": []}', /line 2: expected \{"turns"/],
    ['a bad role', JSON.stringify({ turns: [{ role: 'assistant', text: 'x' }] }), /line 2: turns\[0\]\.role must be "user" or "bot"/],
    ['empty text', JSON.stringify({ turns: [{ role: 'user', text: 'a' }, { role: 'bot', text: ' ' }] }), /line 2: turns\[1\]\.text must be a non-empty string/],
    ['no bot turn', JSON.stringify({ turns: [{ role: 'user', text: 'hi' }] }), /line 2: a dialogue needs at least one bot turn/],
  ];
  for (const [name, line, message] of bad) {
    it(`names the line with ${name}`, () => {
      expect(() => loadCorpus(corpusFile([good, line]))).toThrow(message);
    });
  }

  it('explains a missing or empty file', () => {
    expect(() => loadCorpus(path.join(dir, 'missing.jsonl'))).toThrow(/Cannot read corpus .*make-corpus/);
    expect(() => loadCorpus(corpusFile(['', '']))).toThrow(/holds no dialogues/);
  });

  it('accepts the committed corpus: 600+ dialogues, short bot replies, some with two exchanges', () => {
    const corpus = loadCorpus(new URL('../data/corpus.jsonl', import.meta.url));
    expect(corpus.length).toBeGreaterThanOrEqual(600);
    expect(corpus.filter((d) => d.length === 4).length).toBeGreaterThan(50);
    for (const d of corpus) for (const t of d) if (t.role === 'bot') expect(t.text.split(/\s+/).length).toBeLessThanOrEqual(40);
  });
});
