// End to end on the platforms: the whole app (startApp) with the real ChatService and a real tiny
// policy, the real discord.js against the fake Discord and the real Bolt at /slack/events, checked
// in the database: what is posted is what is stored, and every vote lands exactly once.
import { once } from 'node:events';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startApp, type App } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import * as q from '../src/db/queries.ts';
import { FakeDiscord, type FakeUser, type PostedMessage } from './fakes/discord-server.ts';
import { BOT_USER_ID, FakeSlack, postSignedEvent } from './fakes/slack-server.ts';
import { countRows, freshDatabase, type TestDatabase } from './helpers/db.ts';
import { publishTinyPolicy } from './helpers/policy.ts';

const DISCORD_TOKEN = 'e2e-discord-token';
const SLACK_BOT_TOKEN = 'xoxb-e2e-bot-token';
const SLACK_SIGNING_SECRET = 'e2e-signing-secret';
const SEEDED = ['🅰️', '🅱️', '🤝', '👎'];
const WAIT = { timeout: 15_000, interval: 25 };

describe('Discord and Slack end to end with the real service and a tiny policy', { timeout: 60_000 }, () => {
  let database: TestDatabase;
  let discord: FakeDiscord;
  let slack: FakeSlack;
  let app: App;
  let alice: FakeUser;

  beforeAll(async () => {
    database = await freshDatabase('pglite');
    await publishTinyPolicy(database);
    discord = await FakeDiscord.start({ token: DISCORD_TOKEN, reactionIntervalMs: 50 });
    slack = await FakeSlack.start({ botToken: SLACK_BOT_TOKEN, signingSecret: SLACK_SIGNING_SECRET });
    slack.addUser({ id: 'UALICE001', name: 'alice' });
    const config = loadConfig({
      PORT: '0',
      MAX_NEW_TOKENS: '8',
      EVAL_SHARE: '0',
      LEARNER_IN_PROCESS: 'false',
      DISCORD_TOKEN,
      DISCORD_API_URL: discord.apiUrl,
      SLACK_BOT_TOKEN,
      SLACK_SIGNING_SECRET,
      SLACK_API_URL: slack.apiUrl,
    });
    app = await startApp(config, { database });
    slack.eventsUrl = `http://127.0.0.1:${app.web.port}/slack/events`;
    alice = discord.addUser('alice');
  });
  afterAll(async () => {
    await app?.stop();
    await discord?.close();
    await slack?.close();
    await database?.close();
  });

  const votesBy = async (externalId: string) => {
    const result = (await database.db.execute(sql`select count(*)::int as n from votes v join users u on u.id = v.user_id where u.external_id = ${externalId}`)) as unknown as { rows: { n: number }[] };
    return result.rows[0].n;
  };

  /** A user mentions the bot; resolves with the post once its four votes are seeded. */
  async function ask(text: string, author = alice): Promise<PostedMessage> {
    const reactions = discord.botReactions.length;
    discord.sendMessage({ author, content: `<@${discord.bot.id}> ${text}` });
    await vi.waitFor(() => expect(discord.botReactions.length).toBe(reactions + SEEDED.length), WAIT);
    return discord.posted.at(-1)!;
  }

  async function promptOf(post: PostedMessage) {
    const prompt = await q.findPromptId(database.db, { platform: 'discord', platformMessageId: post.id });
    if (!prompt) throw new Error(`no prompt attached to post ${post.id}`);
    return prompt;
  }

  it('turns a mention into two posted candidates with seeded votes, stored as a prompt with its candidates', async () => {
    const message = discord.sendMessage({ author: alice, content: `<@${discord.bot.id}> what is the weather like?` });
    await vi.waitFor(() => expect(discord.botReactions.length).toBe(SEEDED.length), WAIT);
    const post = discord.posted.at(-1)!;
    expect(discord.botReactions.map((r) => r.emoji)).toEqual(SEEDED);
    expect(discord.botReactions.every((r) => r.messageId === post.id)).toBe(true);
    const stored = await q.findPromptByEvent(database.db, 'discord', String(message.id));
    expect(stored?.prompt).toMatchObject({ userText: 'what is the weather like?', platformMessageId: post.id, platform: 'discord' });
    expect(stored?.candidates.map((c) => c.slot)).toEqual(['a', 'b']);
    expect(stored?.candidates.every((c) => c.policyVersionId === app.policy.liveVersion() && c.tokenIds.length > 0)).toBe(true);
    const [a, b] = stored!.candidates;
    expect(post.content.startsWith(`🅰️ ${a.text}\n\n🅱️ ${b.text}\n\n`)).toBe(true);
    expect(post.replyTo).toBe(String(message.id));
  });

  it('stores a reaction as a vote, withdraws it when removed, and stores nothing for the bot’s own reactions', async () => {
    const post = await ask('pick one');
    const prompt = await promptOf(post);
    // The four seeded reactions came back over the gateway as the bot's: nothing stored.
    expect(await votesBy(discord.bot.id)).toBe(0);
    discord.addReaction({ user: alice, messageId: post.id, emoji: '🅱️' });
    await vi.waitFor(async () => expect(await q.liveVote(database.db, prompt.id, 'discord', alice.id)).toBe('b'), WAIT);
    discord.addReaction({ user: alice, messageId: post.id, emoji: '🅰️' });
    await vi.waitFor(async () => expect(await q.liveVote(database.db, prompt.id, 'discord', alice.id)).toBe('a'), WAIT);
    // Removing the older reaction keeps the newer vote; removing the live one withdraws it.
    discord.removeReaction({ user: alice, messageId: post.id, emoji: '🅱️' });
    discord.removeReaction({ user: alice, messageId: post.id, emoji: '🅰️' });
    await vi.waitFor(async () => expect(await q.liveVote(database.db, prompt.id, 'discord', alice.id)).toBeNull(), WAIT);
    expect(await votesBy(alice.id)).toBe(1);
    expect(await votesBy(discord.bot.id)).toBe(0);
  });

  it('loses no vote across a gateway reconnect: one cast while the socket is down, one after', async () => {
    const post = await ask('before the drop');
    const prompt = await promptOf(post);
    const bob = discord.addUser('bob');
    const carol = discord.addUser('carol');
    const resumed = once(discord, 'resumed');
    discord.dropConnection();
    discord.addReaction({ user: bob, messageId: post.id, emoji: '🤝' }); // replayed on RESUME
    await resumed;
    discord.addReaction({ user: carol, messageId: post.id, emoji: '👎' });
    await vi.waitFor(async () => {
      expect(await q.liveVote(database.db, prompt.id, 'discord', bob.id)).toBe('tie');
      expect(await q.liveVote(database.db, prompt.id, 'discord', carol.id)).toBe('both_bad');
    }, WAIT);
    expect(discord.resumes).toBe(1);
    // And the resumed session still answers.
    await promptOf(await ask('after the drop'));
  });

  it('stores nothing for a badly signed Slack request, and answers a properly signed one', async () => {
    const count = (table: string) => countRows(database, table);
    const prompts = await count('prompts');
    const event = (text: string) => ({ type: 'app_mention', user: 'UALICE001', text: `<@${BOT_USER_ID}> ${text}`, ts: slack.ts(), channel: 'CGENERAL1' });
    const forged = await postSignedEvent(slack.eventsUrl!, JSON.stringify(slack.envelope(event('forged'))), { signingSecret: 'not-the-secret' });
    expect(forged.status).toBe(401);
    await new Promise((r) => setTimeout(r, 300));
    expect(await count('prompts')).toBe(prompts);
    expect(slack.posts).toHaveLength(0);

    const real = event('signed');
    expect((await slack.deliver(real)).status).toBe(200);
    await vi.waitFor(() => expect(slack.reactions).toHaveLength(4), WAIT);
    const stored = await q.findPromptByEvent(database.db, 'slack', `CGENERAL1:${real.ts}`);
    expect(stored?.prompt).toMatchObject({ userText: 'signed', platformMessageId: `CGENERAL1:${slack.posts[0].ts}` });
    expect(await count('prompts')).toBe(prompts + 1);
  });
});
