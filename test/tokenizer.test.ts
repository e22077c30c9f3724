import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadCorpus } from '../src/learn/corpus.ts';
import { Tokenizer, loadDefaultTokenizer, type Turn } from '../src/model/tokenizer.ts';

const AWKWARD = [
  '',
  'plain ascii, with punctuation!?',
  '👨‍👩‍👧‍👦 family (ZWJ sequence)',
  '👍🏽 👋🏿 skin tones, 🏳️‍🌈 flag, 🇯🇵 regional indicators',
  'café naïve Ångström façade',
  'e\u0301 combining acute, a\u0308\u0323 stacked marks',
  '你好，世界！ こんにちは 안녕하세요',
  'مرحبا بالعالم',
  'שָׁלוֹם עולם mixed with English',
  'zero\u200Bwidth\u200Cnon\u200Djoiner\uFEFFbom\u2060',
  '\t tabs\n\nnewlines\r\n  trailing spaces   ',
  'nul \u0000 and del \u007f',
  "don't I'll we've 12345 3.14159",
  '𝔘𝔫𝔦𝔠𝔬𝔡𝔢 astral 𝟘𝟙𝟚',
];

const corpus = loadCorpus(new URL('../data/corpus.jsonl', import.meta.url));
const corpusTexts = corpus.flatMap((turns) => turns.map((t) => t.text));
const small = Tokenizer.train(corpusTexts.slice(0, 200), 400);

describe('encode/decode', () => {
  for (const [name, tok] of [
    ['default', loadDefaultTokenizer()],
    ['small trained', small],
  ] as const) {
    it(`round-trips awkward Unicode (${name})`, () => {
      for (const s of AWKWARD) expect(tok.decode(tok.encode(s))).toBe(s);
    });
  }

  it('encodes a lone surrogate as U+FFFD (UTF-8 cannot represent it)', () => {
    const tok = loadDefaultTokenizer();
    expect(tok.decode(tok.encode('a\uD800b\uDC00'))).toBe('a\uFFFDb\uFFFD');
  });

  it('never emits special tokens for text that looks like them', () => {
    const tok = loadDefaultTokenizer();
    const specials = new Set(Object.values(tok.special));
    const ids = tok.encode('<|user|> <|bot|> <|eot|> <|pad|>');
    expect(ids.some((id) => specials.has(id))).toBe(false);
    expect(tok.decode(ids)).toBe('<|user|> <|bot|> <|eot|> <|pad|>');
  });

  it('decodes special tokens to nothing', () => {
    const tok = loadDefaultTokenizer();
    const { pad, user, bot, eot } = tok.special;
    expect(tok.decode([user, ...tok.encode('hi'), eot, bot, pad])).toBe('hi');
  });

  it('decodes invalid UTF-8 byte runs to U+FFFD without throwing', () => {
    const tok = loadDefaultTokenizer();
    const bytesOf = (s: string) => tok.encode(s); // byte ids are 0..255 in the trained vocabulary
    expect(tok.decode([0xff])).toBe('\uFFFD');
    expect(tok.decode([0xc3])).toBe('\uFFFD'); // first half of "é"
    expect(tok.decode([0xf0, 0x9f, ...bytesOf('ok')])).toBe('\uFFFDok'); // truncated emoji
    expect(tok.decode([0x80, 0x80])).toBe('\uFFFD\uFFFD'); // stray continuation bytes
  });

  it('rejects ids outside the vocabulary with a clear error', () => {
    const tok = loadDefaultTokenizer();
    expect(() => tok.decode([tok.vocabSize])).toThrow(/outside the vocabulary/);
    expect(() => tok.decode([-1])).toThrow(/outside the vocabulary/);
  });
});

describe('default tokenizer', () => {
  const tok = loadDefaultTokenizer();

  it('has 2048 ids with four distinct specials after the bytes and merges', () => {
    expect(tok.vocabSize).toBe(2048);
    const ids = Object.values(tok.special);
    expect(new Set(ids).size).toBe(4);
    for (const id of ids) expect(id).toBeGreaterThanOrEqual(256);
    expect(Math.max(...ids)).toBe(tok.vocabSize - 1);
  });

  it('compresses the corpus to more than 2 bytes per token', () => {
    const bytes = corpusTexts.reduce((n, t) => n + Buffer.byteLength(t), 0);
    const tokens = corpusTexts.reduce((n, t) => n + tok.encode(t).length, 0);
    expect(bytes / tokens).toBeGreaterThan(2);
  });

  it('is the same object on every call', () => {
    expect(loadDefaultTokenizer()).toBe(tok);
  });
});

describe('train', () => {
  it('is deterministic and stays within pre-split words', () => {
    const again = Tokenizer.train(corpusTexts.slice(0, 200), 400);
    expect(again.toJSON()).toEqual(small.toJSON());
    expect(small.vocabSize).toBe(400);
    // No merged token may hold a letter followed by a space: merges never cross words.
    for (let id = 256; id < small.vocabSize - 4; id++) expect(small.decode([id])).not.toMatch(/\p{L}\s/u);
  });

  it('stops early when no pair repeats, shrinking the vocabulary', () => {
    // "ab" occurs twice and merges; then "ab ab" occurs once, so training stops.
    const tok = Tokenizer.train(['abab'], 1000);
    expect(tok.vocabSize).toBe(256 + 1 + 4);
    expect(tok.encode('abab')).toHaveLength(2);
  });

  it('rejects a vocabulary smaller than bytes plus specials', () => {
    expect(() => Tokenizer.train(['x'], 259)).toThrow(/vocabSize >= 260/);
  });
});

describe('renderChat', () => {
  const tok = loadDefaultTokenizer();
  const { user, bot, eot } = tok.special;
  const turns: Turn[] = [
    { role: 'user', text: 'Hello there' },
    { role: 'bot', text: 'Hi! How are you?' },
    { role: 'user', text: 'Good, thanks. Tell me a joke.' },
  ];
  const turnIds = turns.map((t) => tok.encodeTurn(t));

  it('writes the template and ends with the bot token', () => {
    expect(tok.renderChat(turns, 1000)).toEqual([
      user, ...tok.encode('Hello there'), eot,
      bot, ...tok.encode('Hi! How are you?'), eot,
      user, ...tok.encode('Good, thanks. Tell me a joke.'), eot,
      bot,
    ]);
  });

  it('drops whole turns from the left to fit', () => {
    const lastTwo = turnIds[1]!.length + turnIds[2]!.length + 1;
    expect(tok.renderChat(turns, lastTwo)).toEqual([...turnIds[1]!, ...turnIds[2]!, bot]);
    expect(tok.renderChat(turns, lastTwo - 1)).toEqual([...turnIds[2]!, bot]);
  });

  it('truncates a single too-long last turn from the left', () => {
    const long: Turn = { role: 'user', text: 'word '.repeat(50) + 'the very end' };
    const text = tok.encode(long.text);
    const ids = tok.renderChat([...turns, long], 12);
    expect(ids).toHaveLength(12);
    expect(ids).toEqual([user, ...text.slice(text.length - 9), eot, bot]);
    expect(tok.decode(ids)).toMatch(/the very end$/);
  });

  it('rejects impossible budgets and empty chats', () => {
    expect(() => tok.renderChat(turns, 2)).toThrow(/maxTokens >= 3/);
    expect(() => tok.renderChat([], 100)).toThrow(/at least one turn/);
  });
});

describe('toJSON / fromJSON', () => {
  it('round-trips', () => {
    const copy = Tokenizer.fromJSON(JSON.parse(JSON.stringify(small.toJSON())));
    for (const s of AWKWARD) expect(copy.encode(s)).toEqual(small.encode(s));
    expect(copy.special).toEqual(small.special);
  });

  const base = () => small.toJSON();
  const cases: [string, (j: ReturnType<typeof base>) => unknown, RegExp][] = [
    ['not an object', () => 'hello', /expected an object/],
    ['wrong format', (j) => ({ ...j, format: 'sentencepiece' }), /expected format "pairwise-byte-bpe"/],
    ['short byteIds', (j) => ({ ...j, byteIds: j.byteIds.slice(1) }), /byteIds must list 256/],
    ['merge of an undefined token', (j) => ({ ...j, merges: [[0, 9999, 256], ...j.merges.slice(1)] }), /merges\[0\] uses token 9999/],
    ['reused id', (j) => ({ ...j, special: { ...j.special, pad: 5 } }), /special\.pad reuses token id 5/],
    ['special out of range', (j) => ({ ...j, special: { ...j.special, eot: j.vocabSize } }), /special\.eot is \d+, not an id/],
    ['missing special', (j) => ({ ...j, special: { pad: j.special.pad, user: j.special.user, bot: j.special.bot } }), /special\.eot is undefined/],
  ];
  for (const [name, mutate, message] of cases) {
    it(`rejects ${name}`, () => {
      expect(() => Tokenizer.fromJSON(mutate(base()))).toThrow(message);
      expect(() => Tokenizer.fromJSON(mutate(base()))).toThrow(/npm run train-tokenizer/);
    });
  }
});

describe('fromGpt2Files', () => {
  // GPT-2's reference bytes_to_unicode, written the way encoder.py does it.
  function bytesToUnicode(): Map<number, string> {
    const bs: number[] = [];
    for (let b = 0x21; b <= 0x7e; b++) bs.push(b);
    for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
    for (let b = 0xae; b <= 0xff; b++) bs.push(b);
    const cs = [...bs];
    let n = 0;
    for (let b = 0; b < 256; b++) {
      if (!bs.includes(b)) {
        bs.push(b);
        cs.push(256 + n++);
      }
    }
    return new Map(bs.map((b, i) => [b, String.fromCodePoint(cs[i]!)]));
  }

  const dir = mkdtempSync(path.join(tmpdir(), 'gpt2-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const chars = bytesToUnicode();
  // Real GPT-2 orders ids differently from bytes; shuffle them so byte != id here too.
  const vocab: Record<string, number> = {};
  [...chars.entries()].forEach(([b, ch]) => (vocab[ch] = (b * 7 + 3) % 256));
  const merged = ['Ġt', 'he', 'Ġthe', 'll', 'Ġhe', 'Ġhell', 'o'];
  const mergeLines = ['Ġ t', 'h e', 'Ġt he', 'l l', 'Ġ he', 'Ġhe ll'];
  merged.slice(0, 6).forEach((tok, i) => (vocab[tok] = 256 + i));
  vocab['<|endoftext|>'] = 262;
  writeFileSync(path.join(dir, 'vocab.json'), JSON.stringify(vocab));
  writeFileSync(path.join(dir, 'merges.txt'), ['#version: 0.2', ...mergeLines, ''].join('\n'));
  const load = () =>
    Tokenizer.fromGpt2Files(readFileSync(path.join(dir, 'vocab.json'), 'utf8'), readFileSync(path.join(dir, 'merges.txt'), 'utf8'));

  it('maps bytes through bytes_to_unicode (space is Ġ, newline is Ċ)', () => {
    expect(chars.get(32)).toBe('Ġ');
    expect(chars.get(10)).toBe('Ċ');
  });

  it('applies merges by rank and round-trips any text', () => {
    const tok = load();
    expect(tok.encode(' the')).toEqual([vocab['Ġthe']]);
    expect(tok.encode(' hello')).toEqual([vocab['Ġhell'], vocab['o']]);
    expect(tok.encode('the')).toEqual([vocab['t'], vocab['he']]);
    for (const s of AWKWARD) expect(tok.decode(tok.encode(s))).toBe(s);
  });

  it('appends the four specials after the GPT-2 ids; <|endoftext|> decodes to nothing', () => {
    const tok = load();
    expect(tok.special).toEqual({ pad: 263, user: 264, bot: 265, eot: 266 });
    expect(tok.vocabSize).toBe(267);
    expect(tok.decode([262, ...tok.encode('hi'), 262])).toBe('hi');
  });

  it('uses specials that vocab.json already has', () => {
    const withSpecials = { ...vocab, '<|pad|>': 263, '<|user|>': 264, '<|bot|>': 265, '<|eot|>': 266 };
    const tok = Tokenizer.fromGpt2Files(JSON.stringify(withSpecials), mergeLines.join('\n'));
    expect(tok.special).toEqual({ pad: 263, user: 264, bot: 265, eot: 266 });
    expect(tok.vocabSize).toBe(267);
  });

  it('explains mismatched files', () => {
    expect(() => Tokenizer.fromGpt2Files(JSON.stringify(vocab), 'Ġ x')).toThrow(/merges.txt line 1 token "Ġx" is missing/);
    expect(() => Tokenizer.fromGpt2Files(JSON.stringify(vocab), 'Ġtx')).toThrow(/expected "left right"/);
    expect(() => Tokenizer.fromGpt2Files('{not json', '')).toThrow(/vocab.json is not valid JSON/);
  });
});
