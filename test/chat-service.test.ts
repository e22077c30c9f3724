import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatService, type ServiceOptions } from '../src/chat/service.ts';
import type { ChatReply, ChatUser, IncomingMessage } from '../src/chat/types.ts';
import * as q from '../src/db/queries.ts';
import type { LivePolicy } from '../src/model/live-policy.ts';
import { ContentFilter, defaultFilterConfig } from '../src/safety/filter.ts';
import { countRows, drivers, freshDatabase, type TestDatabase } from './helpers/db.ts';
import { publishTinyPolicy, startLivePolicy } from './helpers/policy.ts';

const ann: ChatUser = { platform: 'discord', externalId: 'ann', displayName: 'Ann', isBot: false };
const ben: ChatUser = { platform: 'discord', externalId: 'ben', isBot: false };
const admin: ChatUser = { platform: 'discord', externalId: 'boss', isBot: false };
const bot: ChatUser = { platform: 'discord', externalId: 'other-bot', isBot: true };

function serviceOptions(overrides: Partial<ServiceOptions> = {}): ServiceOptions {
  return {
    maxMessageChars: 200,
    rateLimitPerMinute: 1000,
    contextTurns: 4,
    allowVoteOnOwnPrompt: true,
    admins: new Set(['discord:boss']),
    voteRetryMs: 2000,
    ...overrides,
  };
}

let event = 0;
const message = (user: ChatUser, text: string, channelId = 'general'): IncomingMessage => ({ user, channelId, eventId: `m${++event}`, text });

function candidates(reply: ChatReply) {
  if (reply.kind !== 'candidates') throw new Error(`expected candidates, got ${JSON.stringify(reply)}`);
  return reply;
}

describe.each(drivers)('chat service on %s with a real tiny policy', (driver) => {
  let database: TestDatabase;
  let policy: LivePolicy;
  let service: ChatService;

  beforeAll(async () => {
    database = await freshDatabase(driver);
    await publishTinyPolicy(database);
    policy = await startLivePolicy(database);
    service = new ChatService(database, policy, serviceOptions());
  });
  afterAll(async () => {
    await policy?.stop();
    await database?.close();
  });

  it('answers a message with two stored candidates from the live policy', async () => {
    const reply = candidates(await service.handleMessage(message(ann, 'hello there! 👋')));
    expect(reply.policyVersion).toBe(policy.liveVersion());
    expect(reply.candidates.map((c) => c.slot)).toEqual(['a', 'b']);
    const stored = await q.findPromptByEvent(database.db, 'discord', `m${event}`);
    expect(stored!.prompt.userText).toBe('hello there! 👋');
    expect(stored!.prompt.context).toEqual([{ role: 'user', text: 'hello there! 👋' }]);
    expect(stored!.candidates.map((c) => c.text)).toEqual(reply.candidates.map((c) => c.text));
    for (const c of stored!.candidates) {
      expect(c.tokenIds.length).toBe(c.logprobs.length);
      expect(c.tokenIds.length).toBeGreaterThan(0);
      expect(c.logprobs.every((l) => l <= 0 && Number.isFinite(l))).toBe(true);
    }
  });

  it('answers a redelivered event with the stored pair, sampling nothing new', async () => {
    const msg = message(ann, 'same event twice');
    const first = candidates(await service.handleMessage(msg));
    const before = await countRows(database, 'prompts');
    const second = candidates(await service.handleMessage(msg));
    expect(second).toEqual(first);
    expect(await countRows(database, 'prompts')).toBe(before);
  });

  it('keeps multi-turn context: the bot turn is candidate A until voted, then the winner', async () => {
    const first = candidates(await service.handleMessage(message(ann, 'first', 'ctx')));
    await service.handleMessage(message(ann, 'second', 'ctx'));
    let stored = await q.findPromptByEvent(database.db, 'discord', `m${event}`);
    expect(stored!.prompt.context).toEqual([
      { role: 'user', text: 'first' },
      { role: 'bot', text: first.candidates[0].text },
      { role: 'user', text: 'second' },
    ]);
    await service.handleReaction({ user: ben, target: { promptId: first.promptId }, choice: 'b', action: 'add' });
    await service.handleMessage(message(ann, 'third', 'ctx'));
    stored = await q.findPromptByEvent(database.db, 'discord', `m${event}`);
    expect(stored!.prompt.context[1]).toEqual({ role: 'bot', text: first.candidates[1].text });
  });

  it('randomises and records slot order', async () => {
    const swapped = new Set<boolean>();
    for (let i = 0; i < 12; i++) {
      const reply = candidates(await service.handleMessage(message(ben, `order ${i}`, 'order')));
      swapped.add((await q.findPromptId(database.db, { promptId: reply.promptId }))!.slotsSwapped);
    }
    expect(swapped).toEqual(new Set([true, false]));
  });

  it('turns reactions into votes: add, change, remove, and ignores bots and strangers', async () => {
    const reply = candidates(await service.handleMessage(message(ann, 'vote on me')));
    await service.attachPlatformMessage(reply.promptId, 'discord', 'posted-1');
    const target = { platform: 'discord' as const, platformMessageId: 'posted-1' };
    expect(await service.handleReaction({ user: ben, target, choice: 'a', action: 'add' })).toEqual({ kind: 'stored', promptId: reply.promptId, choice: 'a' });
    await service.handleReaction({ user: ben, target, choice: 'b', action: 'add' });
    expect(await q.liveVote(database.db, reply.promptId, 'discord', 'ben')).toBe('b');
    // Removing the older reaction keeps the newer vote; removing the live one withdraws it.
    expect((await service.handleReaction({ user: ben, target, choice: 'a', action: 'remove' })).kind).toBe('ignored');
    expect((await service.handleReaction({ user: ben, target, choice: 'b', action: 'remove' })).kind).toBe('withdrawn');
    expect(await q.liveVote(database.db, reply.promptId, 'discord', 'ben')).toBeNull();
    expect((await service.handleReaction({ user: bot, target, choice: 'a', action: 'add' })).kind).toBe('ignored');
    expect((await service.handleReaction({ user: ben, target: { platform: 'discord', platformMessageId: 'nope' }, choice: 'a', action: 'add' })).kind).toBe('ignored');
  });

  it('refuses bad text with a clear message and stores nothing', async () => {
    const before = await countRows(database, 'prompts');
    const cases: [string, RegExp][] = [
      ['nul \u0000 here', /NUL/],
      ['x'.repeat(201), /201 characters long; the limit is 200/],
      ['broken \ud800 surrogate', /unpaired UTF-16 surrogate/],
      ['   ', /Send me some text/],
    ];
    for (const [text, expected] of cases) {
      const reply = await service.handleMessage(message(ann, text));
      expect(reply.kind).toBe('text');
      expect((reply as { text: string }).text).toMatch(expected);
    }
    expect((await service.handleMessage(message(bot, 'hi from a bot'))).kind).toBe('ignored');
    expect(await countRows(database, 'prompts')).toBe(before);
  });

  it('runs the commands: help, opt out / in, status for admins, forget me', async () => {
    const carl: ChatUser = { platform: 'discord', externalId: 'carl', isBot: false };
    expect((await service.handleMessage(message(carl, 'help'))) as { text: string }).toMatchObject({ kind: 'text', text: expect.stringMatching(/two replies/) });
    const mine = candidates(await service.handleMessage(message(carl, 'remember me')));
    expect((await service.handleMessage(message(carl, 'Opt Out'))).kind).toBe('text');
    expect(await service.handleMessage(message(carl, 'are you there?'))).toMatchObject({ kind: 'text', text: expect.stringMatching(/opted out/) });
    expect((await service.handleReaction({ user: carl, target: { promptId: mine.promptId }, choice: 'a', action: 'add' })).kind).toBe('ignored');
    await service.handleMessage(message(carl, '!opt in'));
    expect((await service.handleMessage(message(carl, 'back again'))).kind).toBe('candidates');
    expect(await service.handleMessage(message(carl, 'status'))).toMatchObject({ text: expect.stringMatching(/Only the bot's admins/) });
    expect(await service.handleMessage(message(admin, 'status'))).toMatchObject({ text: expect.stringMatching(new RegExp(`Live policy version: ${policy.liveVersion()}`)) });
    expect(await service.handleMessage(message(carl, 'forget me'))).toMatchObject({ text: expect.stringMatching(/deleted 2 of your messages/) });
    expect(await q.findUser(database.db, 'discord', 'carl')).toBeUndefined();
    expect(await q.findPromptId(database.db, { promptId: mine.promptId })).toBeUndefined();
  });

  it('rate-limits a user with a polite reply, not silence', async () => {
    const limited = new ChatService(database, policy, serviceOptions({ rateLimitPerMinute: 2 }));
    const dee: ChatUser = { platform: 'slack', externalId: 'dee', isBot: false };
    expect((await limited.handleMessage(message(dee, 'one'))).kind).toBe('candidates');
    expect((await limited.handleMessage(message(dee, 'two'))).kind).toBe('candidates');
    expect(await limited.handleMessage(message(dee, 'three'))).toMatchObject({ kind: 'text', text: expect.stringMatching(/limit 2 a minute/) });
    expect((await limited.handleMessage(message(ann, 'someone else'))).kind).toBe('candidates');
  });

  it('hot-reloads a newly published policy without a restart', async () => {
    const before = policy.liveVersion()!;
    const next = await publishTinyPolicy(database, { seed: 99, parentId: before });
    await expect.poll(() => policy.liveVersion(), { timeout: 15_000 }).toBe(next.id);
    const reply = candidates(await service.handleMessage(message(ann, 'after the reload')));
    expect(reply.policyVersion).toBe(next.id);
  });

  it('never posts a blocked candidate: resamples, then falls back, and records each block', async () => {
    // A blocklist that blocks every sampled reply: only the fallback may come out.
    const strict = await startLivePolicy(database, { filter: new ContentFilter({ ...defaultFilterConfig, blocklist: ['/^(?!Sorry)/'] }) });
    try {
      const guarded = new ChatService(database, strict, serviceOptions());
      const blockedBefore = await countRows(database, 'blocked_candidates');
      const reply = candidates(await guarded.handleMessage(message(ann, 'say something risky')));
      expect(reply.candidates.map((c) => c.text)).toEqual([defaultFilterConfig.fallback, defaultFilterConfig.fallback]);
      // Each slot: the first sample and two resamples blocked, the last one with the fallback.
      expect((await countRows(database, 'blocked_candidates')) - blockedBefore).toBe(6);
    } finally {
      await strict.stop();
    }
  });
});
