// Preference-pair files: JSON Lines in the HH-RLHF or the TRL layout, read line by line with
// bounded memory. `pairwise export`, `pairwise import` and `pairwise eval-rm` all go through here.
//
// HH-RLHF: {"chosen": "\n\nHuman: hi\n\nAssistant: hello", "rejected": "\n\nHuman: hi\n\nAssistant: go away"}:
//   the whole conversation, each turn after a "\n\nHuman: " or "\n\nAssistant: " marker; the last
//   Assistant turn is the reply, everything before it (identical in both) is the context.
// TRL (what export writes): TRL's conversational preference layout, so multi-turn contexts need
//   no text convention and parse back exactly:
//   {"prompt": [{"role": "user", "content": "hi"}, ...], "chosen": [{"role": "assistant", "content": "hello"}], "rejected": [...]}
//   Import also takes TRL's standard layout (strings): a string prompt that starts with an HH
//   marker is split into turns like HH, any other string is one user turn; and TRL's implicit-prompt
//   layout (chosen and rejected as whole conversations, without "prompt").
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { ContextTurn } from '../db/schema.ts';

export const PAIR_FORMATS = ['hh', 'trl'] as const;
export type PairFormat = (typeof PAIR_FORMATS)[number];

/** A preference pair as files carry it: the conversation so far, the preferred and the other reply. */
export interface PortablePair {
  context: ContextTurn[];
  chosen: string;
  rejected: string;
}

/** A line or a file that cannot be read as preference pairs; the message says which and why. */
export class FormatError extends Error {}

/** A bad line of a file: `line` is its 1-based number. */
export class LineError extends FormatError {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(message);
  }
}

const MARKERS = { user: '\n\nHuman: ', bot: '\n\nAssistant: ' } as const;
const ROLES = { user: 'user', assistant: 'bot' } as const;

/** Validates a --format value; undefined when not given. */
export function parsePairFormat(value: unknown): PairFormat | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string' && (PAIR_FORMATS as readonly string[]).includes(value)) return value as PairFormat;
  throw new FormatError(`--format must be one of ${PAIR_FORMATS.join(', ')} (got "${String(value)}")`);
}

/** Canonical JSON of a pair: fixed key order, nothing else, so equal pairs hash equally. */
export function canonicalJson(pair: PortablePair): string {
  return JSON.stringify({ context: pair.context.map((t) => ({ role: t.role, text: t.text })), chosen: pair.chosen, rejected: pair.rejected });
}

export function contentHash(pair: PortablePair): string {
  return createHash('sha256').update(canonicalJson(pair)).digest('hex');
}

// ---------------------------------------------------------------- writing

function renderHh(turns: readonly ContextTurn[]): string {
  return turns.map((t) => MARKERS[t.role] + t.text).join('');
}

/** True when a text contains a turn marker, so HH's plain-text layout could not be split back exactly. */
function hasMarker(text: string): boolean {
  return text.includes(MARKERS.user) || text.includes(MARKERS.bot);
}

const message = (t: ContextTurn) => ({ role: t.role === 'user' ? 'user' : 'assistant', content: t.text });

/** The JSON object of one exported pair; throws FormatError when HH cannot represent it exactly. */
export function pairRecord(pair: PortablePair, format: PairFormat): Record<string, unknown> {
  if (format === 'trl') {
    return {
      prompt: pair.context.map(message),
      chosen: [message({ role: 'bot', text: pair.chosen })],
      rejected: [message({ role: 'bot', text: pair.rejected })],
    };
  }
  if ([pair.chosen, pair.rejected, ...pair.context.map((t) => t.text)].some(hasMarker)) {
    throw new FormatError('a text contains an HH turn marker ("\\n\\nHuman: " or "\\n\\nAssistant: "), so HH cannot hold it exactly: use --format trl');
  }
  return {
    chosen: renderHh([...pair.context, { role: 'bot', text: pair.chosen }]),
    rejected: renderHh([...pair.context, { role: 'bot', text: pair.rejected }]),
  };
}

// ---------------------------------------------------------------- reading

/** Splits an HH conversation into turns at its markers. */
function parseHh(text: string, field: string): ContextTurn[] {
  // Some HH copies drop the two leading newlines of the first turn.
  const s = text.startsWith('Human: ') ? `\n\n${text}` : text;
  if (!s.startsWith(MARKERS.user) && !s.startsWith(MARKERS.bot)) throw new FormatError(`"${field}" must start with "\\n\\nHuman: "`);
  const turns: ContextTurn[] = [];
  let at = 0;
  while (at < s.length) {
    const role = s.startsWith(MARKERS.user, at) ? 'user' : 'bot';
    const start = at + MARKERS[role].length;
    const nextUser = s.indexOf(MARKERS.user, start);
    const nextBot = s.indexOf(MARKERS.bot, start);
    const ends = [nextUser, nextBot].filter((i) => i >= 0);
    const end = ends.length ? Math.min(...ends) : s.length;
    turns.push({ role, text: s.slice(start, end) });
    at = end;
  }
  return turns;
}

/** Context and reply from two whole conversations that must agree up to their last (assistant) turn. */
function splitConversations(chosen: ContextTurn[], rejected: ContextTurn[]): PortablePair {
  const last = (turns: ContextTurn[], field: string) => {
    const turn = turns.at(-1);
    if (turn?.role !== 'bot') throw new FormatError(`"${field}" must end with an Assistant turn`);
    return turn.text;
  };
  const pair = { context: chosen.slice(0, -1), chosen: last(chosen, 'chosen'), rejected: last(rejected, 'rejected') };
  if (canonicalJson({ ...pair, context: rejected.slice(0, -1) }) !== canonicalJson(pair)) {
    throw new FormatError('"chosen" and "rejected" must share the same conversation before their last Assistant turn');
  }
  return pair;
}

function str(record: Record<string, unknown>, field: string): string {
  const value = record[field];
  if (typeof value !== 'string') throw new FormatError(`"${field}" must be a string`);
  return value;
}

/** A TRL message list as turns. */
function messages(value: unknown, field: string): ContextTurn[] {
  if (!Array.isArray(value)) throw new FormatError(`"${field}" must be a string or a list of messages`);
  return value.map((m, i) => {
    const role = (m as { role?: unknown })?.role;
    const content = (m as { content?: unknown })?.content;
    if ((role !== 'user' && role !== 'assistant') || typeof content !== 'string') {
      throw new FormatError(`"${field}"[${i}] must be {"role": "user" | "assistant", "content": string}`);
    }
    return { role: ROLES[role], text: content };
  });
}

function trlPrompt(value: unknown): ContextTurn[] {
  if (typeof value !== 'string') return messages(value, 'prompt');
  if (!value.startsWith(MARKERS.user) && !value.startsWith('Human: ')) return [{ role: 'user', text: value }];
  // TRL's standard-layout HH copies end the prompt with an empty "Assistant:" cue.
  return parseHh(value.replace(/\n\nAssistant: ?$/, ''), 'prompt');
}

function trlReply(value: unknown, field: string): string {
  if (typeof value === 'string') return value;
  const turns = messages(value, field);
  if (turns.length !== 1 || turns[0].role !== 'bot') throw new FormatError(`"${field}" must hold exactly one assistant message`);
  return turns[0].text;
}

function parseTrl(record: Record<string, unknown>): PortablePair {
  if (!('prompt' in record)) return splitConversations(messages(record.chosen, 'chosen'), messages(record.rejected, 'rejected'));
  return { context: trlPrompt(record.prompt), chosen: trlReply(record.chosen, 'chosen'), rejected: trlReply(record.rejected, 'rejected') };
}

/** The format a record is in: TRL when it has a prompt or message lists, HH when chosen/rejected are strings. */
export function detectFormat(record: Record<string, unknown>): PairFormat {
  if ('prompt' in record || Array.isArray(record.chosen)) return 'trl';
  if (typeof record.chosen === 'string') return 'hh';
  throw new FormatError('neither HH-RLHF ("chosen" and "rejected" strings) nor TRL ("prompt", "chosen", "rejected")');
}

/** Parses one JSONL line; `format` undefined detects it. Throws FormatError saying what is wrong. */
export function parseLine(line: string, format?: PairFormat): { format: PairFormat; pair: PortablePair } {
  let record: unknown;
  try {
    record = JSON.parse(line);
  } catch (err) {
    throw new FormatError(`not valid JSON (${(err as Error).message})`);
  }
  if (typeof record !== 'object' || record === null || Array.isArray(record)) throw new FormatError('must be a JSON object');
  const obj = record as Record<string, unknown>;
  const used = format ?? detectFormat(obj);
  const pair = used === 'hh' ? splitConversations(parseHh(str(obj, 'chosen'), 'chosen'), parseHh(str(obj, 'rejected'), 'rejected')) : parseTrl(obj);
  if (pair.context.length === 0) throw new FormatError('the pair has no prompt: the conversation needs a turn before the reply');
  return { format: used, pair };
}

export interface ReadOptions {
  /** The file's format; detected from its first valid line when absent. */
  format?: PairFormat;
  /** Called for each bad line; without it the first bad line throws a FormatError naming its line number. */
  onBad?: (line: number, message: string) => void;
  /** Called with the bytes read so far, for a progress bar. */
  onProgress?: (bytes: number) => void;
}

export interface ReadPair {
  /** 1-based line number in the file. */
  line: number;
  format: PairFormat;
  pair: PortablePair;
}

/** Streams the pairs of a JSONL file, one line at a time; blank lines are passed over. */
export async function* readPairFile(file: string, options: ReadOptions = {}): AsyncGenerator<ReadPair> {
  let handle;
  try {
    handle = await open(file);
  } catch (err) {
    throw new FormatError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const lines = createInterface({ input: handle.createReadStream({ encoding: 'utf8' }), crlfDelay: Infinity });
  let format = options.format;
  let lineNo = 0;
  let bytes = 0;
  try {
    for await (const text of lines) {
      lineNo++;
      bytes += Buffer.byteLength(text) + 1;
      options.onProgress?.(bytes);
      if (text.trim() === '') continue;
      let parsed;
      try {
        parsed = parseLine(text, format);
      } catch (err) {
        if (!(err instanceof FormatError)) throw err;
        const why = `line ${lineNo} of ${file}: ${err.message}`;
        if (!options.onBad) throw new LineError(lineNo, why);
        options.onBad(lineNo, why);
        continue;
      }
      format = parsed.format;
      yield { line: lineNo, ...parsed };
    }
  } finally {
    lines.close();
    await handle.close();
  }
}
