// The content filter every candidate passes before it is posted. A blocked candidate is resampled
// a bounded number of times (src/model/live-policy.ts) and then replaced by a safe fallback.
import { readFileSync } from 'node:fs';

export interface FilterConfig {
  /** Words (matched whole, case-insensitive) and /regex/flags patterns that block a reply. */
  blocklist: string[];
  /** Longest reply in characters. */
  maxChars: number;
  /** Longest run of one repeated character ("Sssss…" is a known reward hack). */
  maxCharRun: number;
  /** Most times one word of 4+ letters may repeat in a reply. */
  maxWordRepeats: number;
  /** Resamples of a blocked candidate before the fallback reply is used. */
  maxResamples: number;
  /** What is posted when every sample was blocked. */
  fallback: string;
}

/**
 * Shipped defaults: slurs and sexual or violent terms that a chat bot trained on its users should
 * never echo, plus contact/credential bait. Operators extend it with FILTER_BLOCKLIST_FILE.
 */
export const DEFAULT_BLOCKLIST = [
  'nigger', 'nigga', 'faggot', 'fag', 'retard', 'retarded', 'kike', 'spic', 'chink', 'tranny', 'wetback',
  'cunt', 'whore', 'slut', 'rape', 'rapist', 'porn', 'nazi', 'heil',
  'kill yourself', 'kys', 'suicide',
  '/\\bpassword\\s*[:=]/i', '/\\b(?:\\d[ -]?){13,16}\\b/',
];

export const defaultFilterConfig: FilterConfig = {
  blocklist: DEFAULT_BLOCKLIST,
  maxChars: 600,
  maxCharRun: 8,
  maxWordRepeats: 6,
  maxResamples: 2,
  fallback: "Sorry, I don't have a good answer to that. Could you put it another way?",
};

// Whole-server and whole-channel pings on Discord and Slack, and role or user mentions.
const MASS_MENTION = /@(?:everyone|here)\b|<!(?:channel|here|everyone)(?:\|[^>]*)?>|<@[!&]?\d+>|<!subteam\^[^>]+>/i;

export type FilterVerdict = { ok: true } | { ok: false; reason: string };

function compile(entry: string): RegExp {
  const pattern = /^\/(.+)\/([a-z]*)$/.exec(entry);
  if (pattern) return new RegExp(pattern[1], pattern[2]);
  const escaped = entry.trim().replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/\s+/g, '\\s+');
  return new RegExp(`(?<![\\p{L}\\p{N}])${escaped}(?![\\p{L}\\p{N}])`, 'iu');
}

export class ContentFilter {
  private readonly patterns: { source: string; re: RegExp }[];

  constructor(readonly config: FilterConfig = defaultFilterConfig) {
    this.patterns = config.blocklist.filter((e) => e.trim()).map((source) => ({ source, re: compile(source) }));
  }

  /** Reads an operator's blocklist file: one word, phrase or /regex/flags per line, # for comments. */
  static withBlocklistFile(file: string | undefined, base: FilterConfig = defaultFilterConfig): ContentFilter {
    if (!file) return new ContentFilter(base);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new Error(`FILTER_BLOCKLIST_FILE ${file} cannot be read (${(err as NodeJS.ErrnoException).code}): fix the path or unset it`);
    }
    const extra = text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    for (const entry of extra) {
      try {
        compile(entry);
      } catch {
        throw new Error(`FILTER_BLOCKLIST_FILE ${file}: "${entry}" is not a valid /regex/: fix or remove that line`);
      }
    }
    return new ContentFilter({ ...base, blocklist: [...base.blocklist, ...extra] });
  }

  check(text: string): FilterVerdict {
    if (text.trim().length === 0) return { ok: false, reason: 'empty' };
    if (text.length > this.config.maxChars) return { ok: false, reason: 'too long' };
    if (MASS_MENTION.test(text)) return { ok: false, reason: 'mention' };
    if (new RegExp(`(.)\\1{${this.config.maxCharRun},}`, 'su').test(text)) return { ok: false, reason: 'repeated characters' };
    const counts = new Map<string, number>();
    // Short words ("the", "a") repeat in ordinary sentences; a long word repeated is degeneration.
    for (const word of text.toLowerCase().match(/[\p{L}\p{N}']{4,}/gu) ?? []) {
      const n = (counts.get(word) ?? 0) + 1;
      if (n > this.config.maxWordRepeats) return { ok: false, reason: 'repeated words' };
      counts.set(word, n);
    }
    for (const { re } of this.patterns) if (re.test(text)) return { ok: false, reason: 'blocklist' };
    return { ok: true };
  }
}
