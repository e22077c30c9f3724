// Trains the default byte-level BPE on the bootstrap corpus and writes data/tokenizer.json.
// Run: npx tsx scripts/train-tokenizer.ts [vocabSize]

import { writeFileSync } from 'node:fs';
import { loadCorpus } from '../src/learn/corpus.ts';
import { Tokenizer } from '../src/model/tokenizer.ts';

/** Vocabulary size including the 256 byte tokens and the 4 special tokens. */
const DEFAULT_VOCAB_SIZE = 2048;

const vocabSize = process.argv[2] === undefined ? DEFAULT_VOCAB_SIZE : Number(process.argv[2]);
if (!Number.isInteger(vocabSize)) throw new Error(`vocabSize must be an integer, got ${process.argv[2]}`);

const corpus = new URL('../data/corpus.jsonl', import.meta.url);
const out = new URL('../data/tokenizer.json', import.meta.url);
const texts = loadCorpus(corpus).flatMap((turns) => turns.map((t) => t.text));

const started = performance.now();
const tokenizer = Tokenizer.train(texts, vocabSize);
const trainMs = performance.now() - started;

// byteIds on one line and one merge triple per line keep the committed file short and diffable.
const json = tokenizer.toJSON();
const body = JSON.stringify({ ...json, byteIds: [], merges: [] }, null, 2)
  .replace('"byteIds": []', `"byteIds": ${JSON.stringify(json.byteIds)}`)
  .replace('"merges": []', `"merges": [\n${json.merges.map((m) => `    ${JSON.stringify(m)}`).join(',\n')}\n  ]`);
writeFileSync(out, body + '\n');

const bytes = texts.reduce((n, t) => n + Buffer.byteLength(t, 'utf8'), 0);
const tokens = texts.reduce((n, t) => n + tokenizer.encode(t).length, 0);
console.log(
  `vocabSize ${tokenizer.vocabSize} (${json.merges.length} merges) trained on ${texts.length} texts in ${trainMs.toFixed(0)} ms; ` +
    `${(bytes / tokens).toFixed(2)} bytes/token; wrote ${out.pathname}`,
);
