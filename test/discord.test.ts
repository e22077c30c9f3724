// The Discord adapter with the real discord.js against the fake Discord in test/fakes.

import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createDiscordAdapter } from '../src/chat/discord.ts';
import type { Adapter } from '../src/chat/types.ts';
import { FakeDiscord, type FakeUser, type PostedMessage } from './fakes/discord-server.ts';
import { RecordingHandler } from './fakes/recording-handler.ts';

const TOKEN = 'fake-discord-token';
const SEEDED = ['🅰️', '🅱️', '🤝', '👎'];
const REACTION_INTERVAL_MS = 100;
const WAIT = { timeout: 5000, interval: 20 };

describe('Discord adapter against a fake Discord', { timeout: 15_000 }, () => {
  let fake: FakeDiscord;
  let handler: RecordingHandler;
  let adapter: Adapter;
  let alice: FakeUser;

  /** Alice mentions the bot; resolves with the candidates message once all four votes are seeded. */
  async function ask(text: string, author: FakeUser = alice): Promise<PostedMessage> {
    const postsBefore = fake.posted.length;
    const reactionsBefore = fake.botReactions.length;
    fake.sendMessage({ author, content: `<@${fake.bot.id}> ${text}` });
    await vi.waitFor(() => expect(fake.botReactions.length).toBe(reactionsBefore + SEEDED.length), WAIT);
    expect(fake.posted.length).toBe(postsBefore + 1);
    return fake.posted.at(-1)!;
  }

  /** Waits for the adapter to pass `count` more reactions to the handler; returns them. */
  async function votes(before: number, count: number) {
    await vi.waitFor(() => expect(handler.reactions.length).toBe(before + count), WAIT);
    return handler.reactions.slice(before);
  }

  beforeAll(async () => {
    fake = await FakeDiscord.start({ token: TOKEN, reactionIntervalMs: REACTION_INTERVAL_MS });
    handler = new RecordingHandler();
    const candidates = handler.reply;
    handler.reply = (msg) => {
      if (msg.text === 'help') return { kind: 'text', text: 'Pairwise help: @everyone <@&1> reacts to vote.' };
      if (msg.text === 'long') {
        return {
          kind: 'candidates',
          conversationId: 'c-long',
          promptId: 'p-long',
          policyVersion: 1,
          candidates: [
            { slot: 'a', text: 'x'.repeat(3000) },
            { slot: 'b', text: 'y'.repeat(3000) },
          ],
        };
      }
      return candidates(msg);
    };
    adapter = createDiscordAdapter(handler, { token: TOKEN, apiUrl: fake.apiUrl });
    await adapter.start();
    alice = fake.addUser('alice');
  });

  afterAll(async () => {
    await adapter?.stop();
    await fake?.close();
  });

  it('registers /pairwise when ready', () => {
    expect(fake.identifies).toBe(1);
    expect(fake.commands.map((c) => c.name)).toEqual(['pairwise']);
    expect(fake.commands[0]!.options).toMatchObject([{ name: 'message', type: 3, required: true }]);
  });

  it('answers a mention with both candidates in one reply, attaches it and seeds the four votes in order', async () => {
    const post = await ask('hello there');
    const msg = handler.messages.at(-1)!;
    expect(msg).toMatchObject({
      text: 'hello there',
      channelId: fake.channelId,
      threadId: null,
      user: { platform: 'discord', externalId: alice.id, displayName: 'alice', isBot: false, isAdmin: false },
    });
    expect(post.replyTo).toBe(msg.eventId);
    expect(post.content).toMatch(/^🅰️ A says: hello there\n\n🅱️ B says: hello there\n\n/);
    expect(post.allowedMentions).toEqual({ parse: [], replied_user: false });
    expect(handler.attached.at(-1)).toEqual({ promptId: 'prompt-1', platform: 'discord', platformMessageId: post.id });
    const seeded = fake.botReactions.slice(-4);
    expect(seeded.map((r) => r.emoji)).toEqual(SEEDED);
    // The fake refuses reactions faster than its limit, so four in order means they were paced.
    expect(seeded.every((r) => r.messageId === post.id)).toBe(true);
  });

  it('turns a reaction into a vote and its removal into a withdrawal, ignoring the bot’s own reactions', async () => {
    const post = await ask('which is better?');
    const before = handler.reactions.length;
    fake.addReaction({ user: alice, messageId: post.id, emoji: '🅱️' });
    fake.removeReaction({ user: alice, messageId: post.id, emoji: '🅱️' });
    const [vote, withdrawal] = await votes(before, 2);
    expect(vote).toMatchObject({
      user: { platform: 'discord', externalId: alice.id, isBot: false },
      target: { platform: 'discord', platformMessageId: post.id },
      choice: 'b',
      action: 'add',
      outcome: { kind: 'stored', choice: 'b' },
    });
    expect(withdrawal).toMatchObject({ choice: 'b', action: 'remove', outcome: { kind: 'withdrawn' } });
    // The four seeded reactions came back over the gateway first and never reached the handler.
    expect(handler.reactions.some((r) => r.user.externalId === fake.bot.id)).toBe(false);
  });

  it('ignores other bots, non-vote emoji, messages that are not its own, and unmentioned guild messages', async () => {
    const post = await ask('ignore test');
    const before = handler.reactions.length;
    const messagesBefore = handler.messages.length;
    const otherBot = fake.addUser('otherbot', true);
    const own = fake.sendMessage({ author: alice, content: 'no mention here' });
    fake.sendMessage({ author: otherBot, content: `<@${fake.bot.id}> hi from a bot` });
    fake.addReaction({ user: otherBot, messageId: post.id, emoji: '🅰️' });
    fake.addReaction({ user: alice, messageId: post.id, emoji: '🎉' });
    fake.addReaction({ user: alice, messageId: String(own.id), emoji: '🅰️' });
    // A skin-toned 👎 still counts, and arrives after everything above.
    fake.addReaction({ user: alice, messageId: post.id, emoji: '👎🏽' });
    const [only] = await votes(before, 1);
    expect(only).toMatchObject({ choice: 'both_bad', user: { externalId: alice.id } });
    expect(handler.messages.length).toBe(messagesBefore);
  });

  it('counts reactions on an uncached message and fetches an unknown reacting user', async () => {
    const old = fake.postedBeforeStart('🅰️ old A\n\n🅱️ old B');
    await handler.attachPlatformMessage('prompt-old', 'discord', String(old.id));
    const dave = fake.addUser('dave');
    const before = handler.reactions.length;
    fake.addReaction({ user: alice, messageId: String(old.id), emoji: '🤝' });
    // A removal carries only the user id; discord.js has never seen dave.
    fake.removeReaction({ user: dave, messageId: String(old.id), emoji: '🅰️' });
    const [tie, removal] = await votes(before, 2);
    expect(tie).toMatchObject({ choice: 'tie', action: 'add', outcome: { kind: 'stored', promptId: 'prompt-old' } });
    expect(removal).toMatchObject({ user: { externalId: dave.id, isBot: false }, choice: 'a', action: 'remove' });
    expect(fake.requests).toContain(`GET /users/${dave.id}`);
  });

  it('counts a reaction in a DM channel discord.js has not cached, and counts it once', async () => {
    const erin = fake.addUser('erin');
    const old = String(fake.postedBeforeStart('🅰️ old A\n\n🅱️ old B', erin).id);
    await handler.attachPlatformMessage('prompt-dm-old', 'discord', old);
    const before = handler.reactions.length;
    fake.addReaction({ user: erin, messageId: old, emoji: '🅰️' });
    const [vote] = await votes(before, 1);
    expect(vote).toMatchObject({ user: { externalId: erin.id }, choice: 'a', outcome: { kind: 'stored', promptId: 'prompt-dm-old' } });
    // Once erin writes, discord.js caches the DM channel and reports its reactions itself.
    fake.sendMessage({ author: erin, content: 'help', dm: true });
    await vi.waitFor(() => expect(handler.messages.at(-1)?.user.externalId).toBe(erin.id), WAIT);
    fake.removeReaction({ user: erin, messageId: old, emoji: '🅰️' });
    const [, removal] = await votes(before, 2);
    expect(removal).toMatchObject({ action: 'remove', outcome: { kind: 'withdrawn' } });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(handler.reactions.length).toBe(before + 2);
  });

  it('answers a DM without a mention and posts a text reply as plain text that pings nobody', async () => {
    const bob = fake.addUser('bob');
    const postsBefore = fake.posted.length;
    const dm = fake.sendMessage({ author: bob, content: 'help', dm: true });
    await vi.waitFor(() => expect(fake.posted.length).toBe(postsBefore + 1), WAIT);
    const post = fake.posted.at(-1)!;
    expect(handler.messages.at(-1)).toMatchObject({ text: 'help', channelId: dm.channel_id, threadId: null, eventId: dm.id });
    expect(post).toMatchObject({ channelId: dm.channel_id, content: 'Pairwise help: @everyone <@&1> reacts to vote.' });
    expect(post.allowedMentions).toEqual({ parse: [], replied_user: false });
    expect(handler.attached.some((a) => a.platformMessageId === post.id)).toBe(false);
  });

  it('shortens each candidate with an ellipsis so the message fits in 2,000 characters', async () => {
    const post = await ask('long');
    expect(post.content.length).toBeLessThanOrEqual(2000);
    expect(post.content).toMatch(/^🅰️ x+…\n\n🅱️ y+…\n\n-# Vote/);
  });

  it('answers /pairwise by deferring, then editing in the candidates and seeding the votes', async () => {
    const reactionsBefore = fake.botReactions.length;
    const interactionId = fake.runCommand({ user: fake.owner, text: '  tell me a joke ' });
    await vi.waitFor(() => expect(fake.botReactions.length).toBe(reactionsBefore + 4), WAIT);
    expect(fake.interactionCallbacks.at(-1)).toEqual({ interactionId, type: 5 });
    const post = fake.posted.at(-1)!;
    expect(post).toMatchObject({ via: 'interaction' });
    expect(post.content).toContain('🅰️ A says: tell me a joke');
    expect(handler.messages.at(-1)).toMatchObject({
      eventId: interactionId,
      text: 'tell me a joke',
      channelId: fake.channelId,
      user: { externalId: fake.owner.id, isAdmin: true },
    });
    expect(handler.attached.at(-1)).toMatchObject({ platformMessageId: post.id });
    expect(fake.botReactions.slice(-4).every((r) => r.messageId === post.id)).toBe(true);
  });

  it('marks the guild owner as an admin on mentions too', async () => {
    await ask('status', fake.owner);
    expect(handler.messages.at(-1)!.user).toMatchObject({ externalId: fake.owner.id, isAdmin: true });
  });

  it('resumes a dropped gateway connection and counts reactions sent while it was down and after', async () => {
    const post = await ask('before the drop');
    const before = handler.reactions.length;
    const resumed = once(fake, 'resumed');
    fake.dropConnection();
    // Sent while the socket is down: Discord replays it on RESUME.
    fake.addReaction({ user: alice, messageId: post.id, emoji: '🅰️' });
    await resumed;
    fake.addReaction({ user: alice, messageId: post.id, emoji: '🅱️' });
    const [during, after] = await votes(before, 2);
    expect(during).toMatchObject({ choice: 'a', outcome: { kind: 'stored' } });
    expect(after).toMatchObject({ choice: 'b', outcome: { kind: 'stored' } });
    expect({ identifies: fake.identifies, resumes: fake.resumes, resumeConnections: fake.resumeConnections }).toEqual({
      identifies: 1,
      resumes: 1,
      resumeConnections: 1,
    });
    // And the bot still answers on the resumed session.
    await ask('after the drop');
  });

  it('kept the gateway alive with heartbeats and called only routes the fake knows', () => {
    expect(fake.heartbeats).toBeGreaterThan(0);
    expect(fake.unhandled).toEqual([]);
  });

  it('fails to start with a one-line error when the token is wrong', async () => {
    const bad = createDiscordAdapter(new RecordingHandler(), { token: 'wrong-token', apiUrl: fake.apiUrl });
    await expect(bad.start()).rejects.toThrow(/^Discord login failed \(.*\): check DISCORD_TOKEN/);
  });

  it('fails to start with advice when Discord refuses the Message Content intent', async () => {
    const strict = await FakeDiscord.start({ token: TOKEN, messageContentAllowed: false });
    try {
      const bot = createDiscordAdapter(new RecordingHandler(), { token: TOKEN, apiUrl: strict.apiUrl });
      await expect(bot.start()).rejects.toThrow(/Message Content intent/);
    } finally {
      await strict.close();
    }
  });
});
