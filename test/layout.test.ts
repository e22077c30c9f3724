import { describe, expect, it } from 'vitest';
import { formatCandidates, truncate, type CandidateLayout } from '../src/chat/layout.ts';
import type { Candidate } from '../src/chat/types.ts';

const layout: CandidateLayout = { labels: { a: '[A]', b: '[B]' }, maxChars: 60, footer: 'vote!' };
const pair = (a: string, b: string): [Candidate, Candidate] => [
  { slot: 'a', text: a },
  { slot: 'b', text: b },
];

describe('truncate', () => {
  it('keeps text that fits and marks a cut with an ellipsis', () => {
    expect(truncate('hello', 5)).toBe('hello');
    expect(truncate('hello world', 8)).toBe('hello w…');
    expect(truncate('hello world', 7)).toBe('hello…');
  });

  it('never leaves half an emoji', () => {
    const cut = truncate('ab😀cd', 4);
    expect(cut).toBe('ab…');
    expect(cut.length).toBeLessThanOrEqual(4);
  });
});

describe('formatCandidates', () => {
  it('lays out A, B and the footer, whatever order the candidates come in', () => {
    const [a, b] = pair('first', 'second');
    expect(formatCandidates([b, a], layout)).toBe('[A] first\n\n[B] second\n\nvote!');
  });

  it('lets a long candidate use the room a short one leaves', () => {
    const text = formatCandidates(pair('hi', 'x'.repeat(100)), layout);
    expect(text.length).toBe(60);
    expect(text).toMatch(/^\[A\] hi\n\n\[B\] x+…\n\nvote!$/);
  });

  it('halves the room when both are long', () => {
    const text = formatCandidates(pair('a'.repeat(100), 'b'.repeat(100)), layout);
    expect(text.length).toBeLessThanOrEqual(60);
    const [, a, b] = text.match(/^\[A\] (a+)…\n\n\[B\] (b+)…/)!;
    expect(Math.abs(a!.length - b!.length)).toBeLessThanOrEqual(1);
  });

  it('escapes candidate text but not labels or footer', () => {
    const escaping = { ...layout, escape: (t: string) => t.replace(/</g, '&lt;') };
    expect(formatCandidates(pair('<a>', 'b'), escaping)).toBe('[A] &lt;a>\n\n[B] b\n\nvote!');
  });
});
