// How the two candidates are laid out in one platform message. Each platform caps a message's
// length; the stored candidate text always stays whole, only the posted copy is shortened.

import type { Candidate } from './types.ts';

export interface CandidateLayout {
  /** Put before candidate A and candidate B (an emoji on Discord, an emoji code on Slack). */
  labels: { a: string; b: string };
  /** Most characters the posted message may hold, counted before `escape`. */
  maxChars: number;
  /** A voting legend under the candidates; never shortened. */
  footer: string;
  /** Applied to candidate text after shortening (Slack must escape &, <, >). */
  escape?: (text: string) => string;
}

const ELLIPSIS = '…';
const SEPARATOR = '\n\n';

/** Shortens text to at most `max` UTF-16 units, ending with an ellipsis when anything was cut. */
export function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  if (max < 1) return '';
  let cut = text.slice(0, max - ELLIPSIS.length);
  // Never leave half of a surrogate pair (an emoji) at the end.
  if (/[\uD800-\uDBFF]$/.test(cut)) cut = cut.slice(0, -1);
  return cut.trimEnd() + ELLIPSIS;
}

/**
 * Splits `room` characters between two texts: a text that fits in half keeps its length and the
 * other gets the rest, so a short A never forces a long B down to half.
 */
function share(lengthA: number, lengthB: number, room: number): [number, number] {
  if (lengthA + lengthB <= room) return [lengthA, lengthB];
  const half = Math.floor(room / 2);
  if (lengthA <= half) return [lengthA, room - lengthA];
  if (lengthB <= half) return [room - lengthB, lengthB];
  return [half, room - half];
}

/** One message: "A-label text", blank line, "B-label text", blank line, footer. */
export function formatCandidates(candidates: readonly [Candidate, Candidate], layout: CandidateLayout): string {
  const a = candidates.find((c) => c.slot === 'a');
  const b = candidates.find((c) => c.slot === 'b');
  if (!a || !b) throw new Error('formatCandidates needs one candidate in slot a and one in slot b');
  const prefixA = `${layout.labels.a} `;
  const prefixB = `${layout.labels.b} `;
  const fixed = prefixA.length + SEPARATOR.length + prefixB.length + SEPARATOR.length + layout.footer.length;
  const room = layout.maxChars - fixed;
  if (room < 2 * (ELLIPSIS.length + 1)) throw new Error(`layout leaves no room for the candidates (maxChars ${layout.maxChars})`);
  const [maxA, maxB] = share(a.text.length, b.text.length, room);
  const escape = layout.escape ?? ((text: string) => text);
  return (
    prefixA + escape(truncate(a.text, maxA)) + SEPARATOR + prefixB + escape(truncate(b.text, maxB)) + SEPARATOR + layout.footer
  );
}
