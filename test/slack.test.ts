// The Slack adapter with the real Bolt against the fake Slack in test/fakes: the Events API over
// HTTP (through the adapter's requestListener, as the web server mounts it) and Socket Mode.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createSlackAdapter, type SlackAdapter } from '../src/chat/slack.ts';
import { BOT_USER_ID, FakeSlack, postSignedEvent, type SlackPost } from './fakes/slack-server.ts';
import { RecordingHandler } from './fakes/recording-handler.ts';

const BOT_TOKEN = 'xoxb-fake-bot-token';
const APP_TOKEN = 'xapp-fake-app-token';
const SIGNING_SECRET = 'fake-signing-secret';
const SEEDED = ['a', 'b', 'handshake', '-1'];
const CHANNEL = 'CGENERAL1';
const DM_CHANNEL = 'DALICE001';
const WAIT = { timeout: 5000, interval: 20 };
/** Bolt acknowledges an event before its listener runs; this long is enough for an ignored one to finish. */
const SETTLE_MS = 200;

const alice = { id: 'UALICE001', name: 'alice' };
const admin = { id: 'UADMIN001', name: 'admin', isAdmin: true };
const otherBot = { id: 'UOTHERBOT', name: 'otherbot', isBot: true };

const settle = () => new Promise((resolve) => setTimeout(resolve, SETTLE_MS));

function handlerForTests(): RecordingHandler {
  const handler = new RecordingHandler();
  const candidates = handler.reply;
  handler.reply = (msg) =>
    msg.text === 'help' ? { kind: 'text', text: 'Use <!channel> & <@U123> > nothing: just react.' } : candidates(msg);
  return handler;
}

/** Delivers an event and waits until the bot has posted and seeded all four reactions under it. */
async function askAndWait(fake: FakeSlack, event: Record<string, unknown>): Promise<SlackPost> {
  const posts = fake.posts.length;
  const reactions = fake.reactions.length;
  const { status } = await fake.deliver(event);
  expect(status).toBe(200);
  await vi.waitFor(() => expect(fake.reactions.length).toBe(reactions + SEEDED.length), WAIT);
  expect(fake.posts.length).toBe(posts + 1);
  return fake.posts.at(-1)!;
}

function mention(fake: FakeSlack, text: string, extra: Record<string, unknown> = {}) {
  return { type: 'app_mention', user: alice.id, text: `<@${BOT_USER_ID}> ${text}`, ts: fake.ts(), channel: CHANNEL, ...extra };
}

function reaction(type: 'reaction_added' | 'reaction_removed', user: string, name: string, post: SlackPost, itemUser = BOT_USER_ID) {
  return { type, user, reaction: name, item: { type: 'message', channel: post.channel, ts: post.ts }, item_user: itemUser };
}

describe('Slack adapter over the Events API (HTTP)', { timeout: 15_000 }, () => {
  let fake: FakeSlack;
  let handler: RecordingHandler;
  let adapter: SlackAdapter;
  let server: Server;
  let eventsUrl: string;

  async function votes(before: number, count: number) {
    await vi.waitFor(() => expect(handler.reactions.length).toBe(before + count), WAIT);
    return handler.reactions.slice(before);
  }

  beforeAll(async () => {
    fake = await FakeSlack.start({ botToken: BOT_TOKEN, signingSecret: SIGNING_SECRET });
    for (const user of [alice, admin, otherBot]) fake.addUser(user);
    handler = handlerForTests();
    adapter = createSlackAdapter(handler, { botToken: BOT_TOKEN, signingSecret: SIGNING_SECRET, apiUrl: fake.apiUrl });
    // Stands in for the web server, which mounts the listener at POST /slack/events.
    server = createServer(adapter.requestListener!);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    eventsUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/slack/events`;
    fake.eventsUrl = eventsUrl;
    await adapter.start();
  });

  afterAll(async () => {
    await adapter?.stop();
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
    await fake?.close();
  });

  it('answers a mention in a thread with both candidates, attaches the post and seeds the four votes', async () => {
    const event = mention(fake, 'is 1 &lt; 2 &amp;&amp; 3 &gt; 2?');
    const post = await askAndWait(fake, event);
    expect(handler.messages.at(-1)).toEqual({
      user: { platform: 'slack', externalId: alice.id, displayName: 'alice', isBot: false, isAdmin: false },
      channelId: CHANNEL,
      threadId: event.ts,
      eventId: `${CHANNEL}:${event.ts}`,
      text: 'is 1 < 2 && 3 > 2?',
    });
    expect(post).toMatchObject({ channel: CHANNEL, thread_ts: event.ts, parse: 'none' });
    expect(post.text).toBe(
      ':a: A says: is 1 &lt; 2 &amp;&amp; 3 &gt; 2?\n\n:b: B says: is 1 &lt; 2 &amp;&amp; 3 &gt; 2?\n\n' +
        '_Vote: :a: or :b: for the better reply · :handshake: tie · :-1: both bad_',
    );
    expect(handler.attached.at(-1)).toEqual({ promptId: 'prompt-1', platform: 'slack', platformMessageId: `${CHANNEL}:${post.ts}` });
    const seeded = fake.reactions.slice(-4);
    expect(seeded.map((r) => r.name)).toEqual(SEEDED);
    expect(seeded.every((r) => r.channel === CHANNEL && r.timestamp === post.ts)).toBe(true);
  });

  it('stays in the thread when mentioned inside one', async () => {
    const parent = fake.ts();
    const post = await askAndWait(fake, mention(fake, 'in a thread', { thread_ts: parent }));
    expect(post.thread_ts).toBe(parent);
    expect(handler.messages.at(-1)!.threadId).toBe(parent);
  });

  it('turns a reaction into a vote and its removal into a withdrawal, ignoring the bot’s own', async () => {
    const post = await askAndWait(fake, mention(fake, 'vote on me'));
    const before = handler.reactions.length;
    await fake.deliver(reaction('reaction_added', alice.id, 'b', post));
    const [vote] = await votes(before, 1);
    await fake.deliver(reaction('reaction_removed', alice.id, 'b', post));
    const [, withdrawal] = await votes(before, 2);
    expect(vote).toMatchObject({
      user: { platform: 'slack', externalId: alice.id, isBot: false },
      target: { platform: 'slack', platformMessageId: `${CHANNEL}:${post.ts}` },
      choice: 'b',
      action: 'add',
      outcome: { kind: 'stored', choice: 'b' },
    });
    expect(withdrawal).toMatchObject({ choice: 'b', action: 'remove', outcome: { kind: 'withdrawn' } });
    // The fake delivered the four seeded reactions back as reaction_added events by the bot.
    expect(handler.reactions.some((r) => r.user.externalId === BOT_USER_ID)).toBe(false);
  });

  it('ignores other bots, non-vote reactions and reactions on other people’s messages', async () => {
    const post = await askAndWait(fake, mention(fake, 'ignore test'));
    const before = handler.reactions.length;
    await fake.deliver(reaction('reaction_added', otherBot.id, 'a', post));
    await fake.deliver(reaction('reaction_added', alice.id, 'tada', post));
    await fake.deliver(reaction('reaction_added', admin.id, 'a', post, alice.id));
    await fake.deliver(reaction('reaction_added', alice.id, '-1::skin-tone-3', post));
    const [only] = await votes(before, 1);
    expect(only).toMatchObject({ choice: 'both_bad', user: { externalId: alice.id } });
    await settle();
    expect(handler.reactions.length).toBe(before + 1);
  });

  it('answers a DM in a thread and posts a text reply escaped, so it can never ping a channel', async () => {
    const posts = fake.posts.length;
    const ts = fake.ts();
    await fake.deliver({ type: 'message', channel_type: 'im', channel: DM_CHANNEL, user: alice.id, text: 'help', ts });
    await vi.waitFor(() => expect(fake.posts.length).toBe(posts + 1), WAIT);
    expect(handler.messages.at(-1)).toMatchObject({ channelId: DM_CHANNEL, threadId: ts, eventId: `${DM_CHANNEL}:${ts}`, text: 'help' });
    expect(fake.posts.at(-1)).toMatchObject({
      channel: DM_CHANNEL,
      thread_ts: ts,
      parse: 'none',
      text: 'Use &lt;!channel&gt; &amp; &lt;@U123&gt; &gt; nothing: just react.',
    });
  });

  it('ignores bot posts, edits and channel messages that do not mention it', async () => {
    const messages = handler.messages.length;
    const common = { type: 'message', channel_type: 'im', channel: DM_CHANNEL, text: 'hello' };
    await fake.deliver({ ...common, user: BOT_USER_ID, bot_id: 'BBOT0001', ts: fake.ts() });
    await fake.deliver({ ...common, subtype: 'message_changed', ts: fake.ts() });
    await fake.deliver({ ...common, user: otherBot.id, bot_id: 'BOTHER001', ts: fake.ts() });
    await fake.deliver({ ...common, channel_type: 'channel', channel: CHANNEL, user: alice.id, ts: fake.ts() });
    await settle();
    expect(handler.messages.length).toBe(messages);
  });

  it('marks workspace admins', async () => {
    await askAndWait(fake, mention(fake, 'status', { user: admin.id }));
    expect(handler.messages.at(-1)!.user).toMatchObject({ externalId: admin.id, isAdmin: true });
  });

  it('rejects badly signed, stale and unsigned requests with 401 before any handler sees them', async () => {
    const messages = handler.messages.length;
    const posts = fake.posts.length;
    const body = () => JSON.stringify(fake.envelope(mention(fake, 'sneaky')));
    const now = Math.floor(Date.now() / 1000);
    const badlySigned = await postSignedEvent(eventsUrl, body(), { signingSecret: 'not-the-secret' });
    const tampered = await postSignedEvent(eventsUrl, body(), { signature: 'v0=' + '0'.repeat(64) });
    const stale = await postSignedEvent(eventsUrl, body(), { signingSecret: SIGNING_SECRET, timestamp: now - 10 * 60 });
    const unsigned = await postSignedEvent(eventsUrl, body(), {});
    expect([badlySigned.status, tampered.status, stale.status, unsigned.status]).toEqual([401, 401, 401, 401]);
    await settle();
    expect(handler.messages.length).toBe(messages);
    expect(fake.posts.length).toBe(posts);
  });

  it('answers Slack’s URL verification and sends other paths away with 404', async () => {
    const challenge = await postSignedEvent(eventsUrl, JSON.stringify({ type: 'url_verification', challenge: 'c-123' }), {
      signingSecret: SIGNING_SECRET,
    });
    expect(challenge.status).toBe(200);
    expect(challenge.text).toContain('c-123');
    const other = await fetch(eventsUrl.replace('/slack/events', '/elsewhere'));
    expect(other.status).toBe(404);
  });

  it('called only Web API methods the fake knows', () => {
    expect(fake.unhandled).toEqual([]);
  });

  it('fails to start with a one-line error when the bot token is wrong', async () => {
    const bad = createSlackAdapter(new RecordingHandler(), { botToken: 'xoxb-wrong', signingSecret: SIGNING_SECRET, apiUrl: fake.apiUrl });
    await expect(bad.start()).rejects.toThrow(/^Slack auth\.test failed \(.*invalid_auth.*\): check SLACK_BOT_TOKEN/);
  });

  it('refuses to build without a signing secret or an app token', () => {
    expect(() => createSlackAdapter(new RecordingHandler(), { botToken: BOT_TOKEN })).toThrow(/SLACK_SIGNING_SECRET.*SLACK_APP_TOKEN/);
  });
});

describe('Slack adapter over Socket Mode', { timeout: 15_000 }, () => {
  let fake: FakeSlack;
  let handler: RecordingHandler;
  let adapter: SlackAdapter;

  beforeAll(async () => {
    fake = await FakeSlack.start({ botToken: BOT_TOKEN, appToken: APP_TOKEN });
    fake.addUser(alice);
    handler = handlerForTests();
    adapter = createSlackAdapter(handler, { botToken: BOT_TOKEN, appToken: APP_TOKEN, apiUrl: fake.apiUrl });
    await adapter.start();
  });

  afterAll(async () => {
    await adapter?.stop();
    await fake?.close();
  });

  it('connects through apps.connections.open and serves no HTTP listener', () => {
    expect(fake.socketConnections).toBe(1);
    expect(fake.calls).toContain('apps.connections.open');
    expect(adapter.requestListener).toBeUndefined();
  });

  it('answers a mention, acks the envelopes and counts a vote, ignoring the bot’s own reactions', async () => {
    const event = mention(fake, 'over the socket');
    const post = await askAndWait(fake, event);
    expect(handler.messages.at(-1)).toMatchObject({ text: 'over the socket', threadId: event.ts });
    expect(handler.attached.at(-1)).toEqual({ promptId: 'prompt-1', platform: 'slack', platformMessageId: `${CHANNEL}:${post.ts}` });
    const before = handler.reactions.length;
    expect(await fake.deliver(reaction('reaction_added', alice.id, 'handshake', post))).toEqual({ via: 'socket', status: 200 });
    await vi.waitFor(() => expect(handler.reactions.length).toBe(before + 1), WAIT);
    expect(handler.reactions.at(-1)).toMatchObject({ choice: 'tie', action: 'add', outcome: { kind: 'stored' } });
    expect(handler.reactions.some((r) => r.user.externalId === BOT_USER_ID)).toBe(false);
    // Every envelope sent so far (the mention, four echoed seeds, the vote) was acknowledged.
    await vi.waitFor(() => expect(fake.acks).toHaveLength(6), WAIT);
  });

  it('fails to start with a one-line error when the app token is wrong', async () => {
    const bad = createSlackAdapter(new RecordingHandler(), { botToken: BOT_TOKEN, appToken: 'xapp-wrong', apiUrl: fake.apiUrl });
    try {
      await expect(bad.start()).rejects.toThrow(/^Slack Socket Mode failed to connect \(.*\): check SLACK_APP_TOKEN/);
    } finally {
      await bad.stop();
    }
  });
});
