// Byte-level BPE tokenizer and the chat template.
//
// Text is encoded as UTF-8 bytes, so any string round-trips; a lone UTF-16 surrogate is
// not valid Unicode and is encoded as U+FFFD (TextEncoder's rule), so it comes back as
// U+FFFD. encode() never emits a special token: "<|user|>" typed by a user stays plain text.

import { readFileSync } from 'node:fs';

export type Turn = { role: 'user' | 'bot'; text: string };

export type SpecialTokens = { pad: number; user: number; bot: number; eot: number };

const SPECIAL_NAMES = ['pad', 'user', 'bot', 'eot'] as const;

/** The serialized tokenizer (data/tokenizer.json). Token ids are free-form so GPT-2's layout fits too. */
export type TokenizerJSON = {
  format: 'pairwise-byte-bpe';
  version: 1;
  vocabSize: number;
  /** byteIds[b] is the token id of the single byte b (256 entries). */
  byteIds: number[];
  /** [left, right, merged] in priority order: earlier merges apply first. */
  merges: [number, number, number][];
  special: SpecialTokens;
};

// GPT-2's pre-split: contractions, letter runs, digit runs, punctuation runs, each with at
// most one leading space, then whitespace. Merges never cross these pieces.
const PRE_SPLIT = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/** Bounds the word -> ids cache so a long-running bot cannot grow it without limit. */
const WORD_CACHE_LIMIT = 100_000;

const utf8 = new TextEncoder();
// fatal: false turns any invalid byte run (a sampled half-character) into U+FFFD.
const utf8Lenient = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

function pairKey(left: number, right: number): number {
  // Exact in a double for ids below 2^26, far above any vocabulary here.
  return left * 0x4000000 + right;
}

function preSplit(text: string): string[] {
  return text.match(PRE_SPLIT) ?? [];
}

function fail(message: string): never {
  throw new Error(`Invalid tokenizer JSON: ${message}. Regenerate it with \`npm run train-tokenizer\`.`);
}

export class Tokenizer {
  readonly vocabSize: number;
  readonly special: SpecialTokens;
  private readonly byteIds: number[];
  private readonly merges: [number, number, number][];
  /** pairKey(left, right) -> { rank, merged id } */
  private readonly mergeRank = new Map<number, { rank: number; id: number }>();
  /** Token id -> its bytes; null for special and reserved ids, which decode to nothing. */
  private readonly tokenBytes: (Uint8Array | null)[];
  private readonly wordCache = new Map<string, number[]>();

  private constructor(json: TokenizerJSON) {
    this.vocabSize = json.vocabSize;
    this.special = { ...json.special };
    this.byteIds = [...json.byteIds];
    this.merges = json.merges.map((m) => [m[0], m[1], m[2]]);
    this.tokenBytes = new Array<Uint8Array | null>(json.vocabSize).fill(null);
    json.byteIds.forEach((id, b) => (this.tokenBytes[id] = Uint8Array.of(b)));
    json.merges.forEach(([left, right, id], rank) => {
      const a = this.tokenBytes[left]!;
      const b = this.tokenBytes[right]!;
      const bytes = new Uint8Array(a.length + b.length);
      bytes.set(a);
      bytes.set(b, a.length);
      this.tokenBytes[id] = bytes;
      this.mergeRank.set(pairKey(left, right), { rank, id });
    });
  }

  /** Text -> token ids (no special tokens). */
  encode(text: string): number[] {
    const out: number[] = [];
    for (const word of preSplit(text)) {
      let ids = this.wordCache.get(word);
      if (!ids) {
        ids = this.encodeWord(word);
        if (this.wordCache.size >= WORD_CACHE_LIMIT) this.wordCache.clear();
        this.wordCache.set(word, ids);
      }
      for (const id of ids) out.push(id);
    }
    return out;
  }

  /** Token ids -> text. Special tokens vanish; a broken UTF-8 run becomes U+FFFD. */
  decode(ids: number[]): string {
    const parts: Uint8Array[] = [];
    let length = 0;
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
        throw new RangeError(`Token id ${id} is outside the vocabulary (0..${this.vocabSize - 1}); was the model built for another tokenizer?`);
      }
      const bytes = this.tokenBytes[id];
      if (bytes) {
        parts.push(bytes);
        length += bytes.length;
      }
    }
    const all = new Uint8Array(length);
    let at = 0;
    for (const p of parts) {
      all.set(p, at);
      at += p.length;
    }
    return utf8Lenient.decode(all);
  }

  /** One turn as the template writes it: <role> text <eot>. */
  encodeTurn(turn: Turn): number[] {
    return [turn.role === 'user' ? this.special.user : this.special.bot, ...this.encode(turn.text), this.special.eot];
  }

  /**
   * The prompt for the bot's next reply: `<user> text <eot> <bot> text <eot> ... <bot>`.
   * Oldest whole turns are dropped until it fits in maxTokens; if the last turn alone is
   * still too long, its text keeps only its last tokens.
   */
  renderChat(turns: Turn[], maxTokens: number): number[] {
    if (!Number.isInteger(maxTokens) || maxTokens < 3) {
      throw new Error(`renderChat needs maxTokens >= 3 (role, eot and the final bot token), got ${maxTokens}`);
    }
    if (turns.length === 0) throw new Error('renderChat needs at least one turn: pass the user message to answer');
    const budget = maxTokens - 1; // the trailing <bot>
    const kept: number[][] = [];
    let used = 0;
    for (let i = turns.length - 1; i >= 0; i--) {
      const ids = this.encodeTurn(turns[i]!);
      if (used + ids.length > budget) {
        if (kept.length === 0) {
          // The newest turn alone overflows: keep its role token, its last text tokens and eot.
          const textKeep = budget - 2;
          kept.push([ids[0]!, ...ids.slice(ids.length - 1 - textKeep, ids.length - 1), this.special.eot]);
        }
        break;
      }
      kept.push(ids);
      used += ids.length;
    }
    return [...kept.reverse().flat(), this.special.bot];
  }

  toJSON(): TokenizerJSON {
    return {
      format: 'pairwise-byte-bpe',
      version: 1,
      vocabSize: this.vocabSize,
      byteIds: [...this.byteIds],
      merges: this.merges.map((m) => [m[0], m[1], m[2]]),
      special: { ...this.special },
    };
  }

  static fromJSON(json: unknown): Tokenizer {
    return new Tokenizer(validate(json));
  }

  /**
   * Byte-level BPE trained on `texts`: ids 0..255 are bytes, then merges, then the 4
   * special tokens, vocabSize in all. Stops early (smaller vocabulary) when no pair
   * occurs twice any more.
   */
  static train(texts: string[], vocabSize: number): Tokenizer {
    const numMerges = vocabSize - 256 - SPECIAL_NAMES.length;
    if (!Number.isInteger(vocabSize) || numMerges < 0) {
      throw new Error(`Tokenizer.train needs an integer vocabSize >= ${256 + SPECIAL_NAMES.length} (256 bytes + 4 specials), got ${vocabSize}`);
    }
    const merges = trainMerges(texts, numMerges);
    const nextId = 256 + merges.length;
    return new Tokenizer({
      format: 'pairwise-byte-bpe',
      version: 1,
      vocabSize: nextId + SPECIAL_NAMES.length,
      byteIds: Array.from({ length: 256 }, (_, b) => b),
      merges,
      special: { pad: nextId, user: nextId + 1, bot: nextId + 2, eot: nextId + 3 },
    });
  }

  /**
   * Loads GPT-2's vocab.json + merges.txt (token strings use GPT-2's bytes_to_unicode
   * alphabet). GPT-2's files have no pad/user/bot/eot tokens, so any of `<|pad|>`,
   * `<|user|>`, `<|bot|>`, `<|eot|>` missing from vocab.json is appended after the
   * highest GPT-2 id (50257.. for the real files). Ids no merge produces, such as
   * <|endoftext|>, decode to nothing.
   */
  static fromGpt2Files(vocabJson: string, mergesTxt: string): Tokenizer {
    let vocab: Record<string, number>;
    try {
      vocab = JSON.parse(vocabJson) as Record<string, number>;
    } catch (err) {
      throw new Error(`GPT-2 vocab.json is not valid JSON (${(err as Error).message}); pass the file's contents, not its path`);
    }
    if (typeof vocab !== 'object' || vocab === null || Array.isArray(vocab)) {
      throw new Error('GPT-2 vocab.json must be an object of token string -> id');
    }
    const idOf = (token: string, where: string): number => {
      const id = vocab[token];
      if (!Number.isInteger(id)) throw new Error(`GPT-2 files: ${where} token ${JSON.stringify(token)} is missing from vocab.json; are vocab.json and merges.txt from the same model?`);
      return id!;
    };
    const byteChars = gpt2ByteChars();
    const byteIds = byteChars.map((ch, b) => idOf(ch, `byte ${b}`));
    const merges: [number, number, number][] = [];
    mergesTxt.split(/\r?\n/).forEach((line, i) => {
      if (line.startsWith('#version') || line.trim() === '') return;
      const parts = line.split(' ');
      if (parts.length !== 2) throw new Error(`GPT-2 merges.txt line ${i + 1}: expected "left right", got ${JSON.stringify(line)}`);
      const [left, right] = parts as [string, string];
      const where = `merges.txt line ${i + 1}`;
      merges.push([idOf(left, where), idOf(right, where), idOf(left + right, where)]);
    });
    let next = Math.max(...Object.values(vocab)) + 1;
    const special = {} as SpecialTokens;
    for (const name of SPECIAL_NAMES) special[name] = vocab[`<|${name}|>`] ?? next++;
    return Tokenizer.fromJSON({ format: 'pairwise-byte-bpe', version: 1, vocabSize: next, byteIds, merges, special });
  }

  /** Greedy BPE on one pre-split word: repeatedly merge the best-ranked adjacent pair. */
  private encodeWord(word: string): number[] {
    let ids = Array.from(utf8.encode(word), (b) => this.byteIds[b]!);
    while (ids.length > 1) {
      let best: { rank: number; id: number } | undefined;
      let bestKey = -1;
      for (let i = 0; i + 1 < ids.length; i++) {
        const key = pairKey(ids[i]!, ids[i + 1]!);
        const m = this.mergeRank.get(key);
        if (m && (!best || m.rank < best.rank)) {
          best = m;
          bestKey = key;
        }
      }
      if (!best) break;
      const merged: number[] = [];
      for (let i = 0; i < ids.length; i++) {
        if (i + 1 < ids.length && pairKey(ids[i]!, ids[i + 1]!) === bestKey) {
          merged.push(best.id);
          i++;
        } else {
          merged.push(ids[i]!);
        }
      }
      ids = merged;
    }
    return ids;
  }
}

/** GPT-2's bytes_to_unicode: printable bytes map to themselves, the rest to U+0100 onward. */
function gpt2ByteChars(): string[] {
  const chars = new Array<string>(256);
  let shifted = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    chars[b] = String.fromCodePoint(printable ? b : 256 + shifted++);
  }
  return chars;
}

/**
 * BPE merges with incremental pair counts: each merge only revisits the words that
 * contain the merged pair, and a lazy max-heap finds the most frequent pair.
 */
function trainMerges(texts: string[], numMerges: number): [number, number, number][] {
  const wordFreq = new Map<string, number>();
  for (const text of texts) for (const w of preSplit(text)) wordFreq.set(w, (wordFreq.get(w) ?? 0) + 1);
  const words: number[][] = [];
  const freqs: number[] = [];
  for (const [w, f] of wordFreq) {
    words.push(Array.from(utf8.encode(w)));
    freqs.push(f);
  }

  const counts = new Map<number, number>();
  const where = new Map<number, Set<number>>(); // pair -> words that (may) contain it
  const heap = new PairHeap();
  const add = (key: number, delta: number, wordIndex: number) => {
    const c = (counts.get(key) ?? 0) + delta;
    counts.set(key, c);
    if (delta > 0) {
      let set = where.get(key);
      if (!set) where.set(key, (set = new Set()));
      set.add(wordIndex);
      heap.push(c, key);
    }
  };
  const countWord = (wi: number, sign: 1 | -1) => {
    const w = words[wi]!;
    for (let i = 0; i + 1 < w.length; i++) add(pairKey(w[i]!, w[i + 1]!), sign * freqs[wi]!, wi);
  };
  words.forEach((_, wi) => countWord(wi, 1));

  const merges: [number, number, number][] = [];
  while (merges.length < numMerges) {
    const top = heap.popValid(counts);
    if (!top || top.count < 2) break;
    const left = Math.floor(top.key / 0x4000000);
    const right = top.key % 0x4000000;
    const id = 256 + merges.length;
    merges.push([left, right, id]);
    for (const wi of where.get(top.key) ?? []) {
      const w = words[wi]!;
      countWord(wi, -1);
      const merged: number[] = [];
      for (let i = 0; i < w.length; i++) {
        if (i + 1 < w.length && w[i] === left && w[i + 1] === right) {
          merged.push(id);
          i++;
        } else {
          merged.push(w[i]!);
        }
      }
      words[wi] = merged;
      countWord(wi, 1);
    }
    where.delete(top.key);
    counts.delete(top.key);
  }
  return merges;
}

/** Max-heap of (count, pair) with stale entries skipped on pop; ties go to the smaller pair key. */
class PairHeap {
  private readonly items: { count: number; key: number }[] = [];

  push(count: number, key: number): void {
    const items = this.items;
    items.push({ count, key });
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(items[i]!, items[parent]!)) break;
      [items[i], items[parent]] = [items[parent]!, items[i]!];
      i = parent;
    }
  }

  /** Pops until an entry matches the pair's current count. */
  popValid(counts: Map<number, number>): { count: number; key: number } | undefined {
    while (this.items.length > 0) {
      const top = this.pop();
      if (counts.get(top.key) === top.count) return top;
    }
    return undefined;
  }

  private pop(): { count: number; key: number } {
    const items = this.items;
    const top = items[0]!;
    const last = items.pop()!;
    if (items.length > 0) {
      items[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let best = i;
        if (l < items.length && this.before(items[l]!, items[best]!)) best = l;
        if (r < items.length && this.before(items[r]!, items[best]!)) best = r;
        if (best === i) break;
        [items[i], items[best]] = [items[best]!, items[i]!];
        i = best;
      }
    }
    return top;
  }

  private before(a: { count: number; key: number }, b: { count: number; key: number }): boolean {
    return a.count > b.count || (a.count === b.count && a.key < b.key);
  }
}

function validate(json: unknown): TokenizerJSON {
  if (typeof json !== 'object' || json === null) fail('expected an object');
  const j = json as Partial<TokenizerJSON>;
  if (j.format !== 'pairwise-byte-bpe' || j.version !== 1) fail(`expected format "pairwise-byte-bpe" version 1, got ${JSON.stringify(j.format)} version ${JSON.stringify(j.version)}`);
  const vocabSize = j.vocabSize;
  if (!Number.isInteger(vocabSize) || vocabSize! < 260) fail(`vocabSize must be an integer >= 260, got ${JSON.stringify(vocabSize)}`);
  const defined = new Set<number>();
  const define = (id: unknown, what: string) => {
    if (!Number.isInteger(id) || (id as number) < 0 || (id as number) >= vocabSize!) fail(`${what} is ${JSON.stringify(id)}, not an id in 0..${vocabSize! - 1}`);
    if (defined.has(id as number)) fail(`${what} reuses token id ${id}`);
    defined.add(id as number);
  };
  if (!Array.isArray(j.byteIds) || j.byteIds.length !== 256) fail('byteIds must list 256 token ids, one per byte');
  j.byteIds.forEach((id, b) => define(id, `byteIds[${b}]`));
  if (!Array.isArray(j.merges)) fail('merges must be an array of [left, right, merged] id triples');
  j.merges.forEach((m, i) => {
    if (!Array.isArray(m) || m.length !== 3) fail(`merges[${i}] must be a [left, right, merged] triple`);
    for (const side of [0, 1] as const) {
      if (!defined.has(m[side])) fail(`merges[${i}] uses token ${JSON.stringify(m[side])} before any byte or earlier merge defines it`);
    }
    define(m[2], `merges[${i}] merged id`);
  });
  if (typeof j.special !== 'object' || j.special === null) fail('special must be an object { pad, user, bot, eot }');
  for (const name of SPECIAL_NAMES) define(j.special[name], `special.${name}`);
  return j as TokenizerJSON;
}

let defaultTokenizer: Tokenizer | undefined;

/** The BPE trained on data/corpus.jsonl by scripts/train-tokenizer.ts (data/tokenizer.json). */
export function loadDefaultTokenizer(): Tokenizer {
  if (!defaultTokenizer) {
    const url = new URL('../../data/tokenizer.json', import.meta.url);
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(url, 'utf8'));
    } catch (err) {
      throw new Error(`Cannot read the default tokenizer ${url.pathname} (${(err as Error).message}); run \`npm run train-tokenizer\``);
    }
    defaultTokenizer = Tokenizer.fromJSON(json);
  }
  return defaultTokenizer;
}
