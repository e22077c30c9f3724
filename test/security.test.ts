// No one let in: forged Slack requests store nothing, the dashboard wants its token, the web server
// listens on loopback only by default, and no token or database password ever reaches a log line,
// an error or a page — checked on a whole `pairwise` CLI session in child processes.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { sql } from 'drizzle-orm';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startApp, type App } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { openDatabase, type Database } from '../src/db/client.ts';
import { FakeDiscord } from './fakes/discord-server.ts';
import { BOT_USER_ID, FakeSlack, postSignedEvent, signSlackRequest } from './fakes/slack-server.ts';
import { freshDatabase, type TestDatabase } from './helpers/db.ts';
import { publishTinyPolicy } from './helpers/policy.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const WAIT = { timeout: 20_000, interval: 50 };
/** Bolt acknowledges an event before its listener runs: long enough for a forged one to have done harm. */
const SETTLE_MS = 300;
const settle = () => new Promise((resolve) => setTimeout(resolve, SETTLE_MS));

async function count(database: Database, table: string): Promise<number> {
  const result = (await database.db.execute(sql.raw(`select count(*)::int as n from ${table}`))) as unknown as { rows: { n: number }[] };
  return Number(result.rows[0].n);
}

/** Addresses (hex, as the kernel writes them) with a TCP socket listening on `port`. */
function listeningAddresses(port: number): string[] {
  const out: string[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    if (!existsSync(file)) continue;
    for (const line of readFileSync(file, 'utf8').split('\n').slice(1)) {
      const [, local, , state] = line.trim().split(/\s+/);
      if (state !== '0A' || !local) continue; // 0A: LISTEN
      const [address, hexPort] = local.split(':');
      if (parseInt(hexPort, 16) === port) out.push(address);
    }
  }
  return out;
}

describe('the app’s own web server, with the Slack adapter mounted at /slack/events', () => {
  const SIGNING_SECRET = 'sec-test-signing-secret';
  const BOT_TOKEN = 'xoxb-sec-test-bot-token';
  const DASHBOARD_TOKEN = 'sec-test-dashboard-token';
  const alice = { id: 'UALICE001', name: 'alice' };
  let database: TestDatabase;
  let fake: FakeSlack;
  let app: App;
  let base: string;

  beforeAll(async () => {
    database = await freshDatabase('pglite');
    await publishTinyPolicy(database);
    fake = await FakeSlack.start({ botToken: BOT_TOKEN, signingSecret: SIGNING_SECRET });
    fake.addUser(alice);
    // HOST is left to its default: the loopback check below is about that default.
    const config = loadConfig({
      PORT: '0',
      MAX_NEW_TOKENS: '4',
      EVAL_SHARE: '0',
      LEARNER_IN_PROCESS: 'false',
      SLACK_BOT_TOKEN: BOT_TOKEN,
      SLACK_SIGNING_SECRET: SIGNING_SECRET,
      SLACK_API_URL: fake.apiUrl,
      DASHBOARD_TOKEN,
    });
    app = await startApp(config, { database });
    base = `http://127.0.0.1:${app.web.port}`;
    fake.eventsUrl = `${base}/slack/events`;
  });
  afterAll(async () => {
    await app?.stop();
    await fake?.close();
    await database?.close();
  });

  const mention = (text: string) => ({ type: 'app_mention', user: alice.id, text: `<@${BOT_USER_ID}> ${text}`, ts: fake.ts(), channel: 'CGENERAL1' });

  it('rejects wrong, tampered, stale and unsigned Slack requests with 401 and stores nothing', async () => {
    // A correctly signed mention is answered: the path works, so the refusals below mean something.
    await fake.deliver(mention('a real question'));
    await vi.waitFor(() => expect(fake.reactions.length).toBe(4), WAIT);
    const post = fake.posts.at(-1)!;
    const prompts = await count(database, 'prompts');
    expect(prompts).toBe(1);

    const url = `${base}/slack/events`;
    const now = Math.floor(Date.now() / 1000);
    const forgedMention = () => JSON.stringify(fake.envelope(mention('forged question')));
    const forgedVote = () => JSON.stringify(fake.envelope({ type: 'reaction_added', user: alice.id, reaction: 'a', item: { type: 'message', channel: post.channel, ts: post.ts }, item_user: BOT_USER_ID }));
    for (const body of [forgedMention, forgedVote]) {
      const answers = [
        await postSignedEvent(url, body(), { signingSecret: 'not-the-secret' }),
        await postSignedEvent(url, body(), { signature: 'v0=' + '0'.repeat(64) }),
        await postSignedEvent(url, body(), { signingSecret: SIGNING_SECRET, timestamp: now - 10 * 60 }),
        await postSignedEvent(url, body(), {}),
      ];
      expect(answers.map((a) => a.status)).toEqual([401, 401, 401, 401]);
      for (const a of answers) expect(a.text).not.toContain(SIGNING_SECRET);
    }
    // A body signed for another body: Slack signs the exact bytes.
    const signedFor = await postSignedEvent(url, forgedMention(), { signature: signSlackRequest(SIGNING_SECRET, now, forgedVote()) });
    expect(signedFor.status).toBe(401);
    await settle();
    expect(await count(database, 'prompts')).toBe(prompts);
    expect(await count(database, 'votes')).toBe(0);
    expect(fake.posts.length).toBe(1);

    // And the same vote, properly signed, is stored.
    await fake.deliver({ type: 'reaction_added', user: alice.id, reaction: 'a', item: { type: 'message', channel: post.channel, ts: post.ts }, item_user: BOT_USER_ID });
    await vi.waitFor(async () => expect(await count(database, 'votes')).toBe(1), WAIT);
  });

  it('answers signed but malformed or incomplete Slack bodies without a 5xx', async () => {
    const url = `${base}/slack/events`;
    const incomplete = JSON.stringify(fake.envelope({ type: 'app_mention' }));
    for (const body of ['', 'not json', '{"type":', '[]', incomplete]) {
      const res = await postSignedEvent(url, body, { signingSecret: SIGNING_SECRET });
      expect(res.status, body).toBeLessThan(500);
    }
  });

  it('requires the dashboard token when one is set, and never echoes it', async () => {
    const get = (path: string, headers: Record<string, string> = {}) => fetch(base + path, { headers });
    for (const [path, headers] of [
      ['/dashboard', {}],
      ['/api/dashboard', {}],
      ['/dashboard?token=wrong', {}],
      ['/api/dashboard', { authorization: 'Bearer wrong' }],
      ['/api/dashboard', { authorization: `Bearer ${DASHBOARD_TOKEN}x` }],
      [`/api/dashboard?token=${DASHBOARD_TOKEN.slice(0, -1)}`, {}],
    ] as const) {
      const res = await get(path, headers);
      expect(res.status, path).toBe(401);
      expect(await res.text()).not.toContain(DASHBOARD_TOKEN);
    }
    expect((await get(`/dashboard?token=${DASHBOARD_TOKEN}`)).status).toBe(200);
    const data = await get('/api/dashboard', { authorization: `Bearer ${DASHBOARD_TOKEN}` });
    expect(data.status).toBe(200);
    expect(await data.text()).not.toContain(DASHBOARD_TOKEN);
  });

  it('listens on 127.0.0.1 only by default', () => {
    expect(loadConfig({}).HOST).toBe('127.0.0.1');
    const addresses = listeningAddresses(app.web.port);
    if (existsSync('/proc/net/tcp')) expect(addresses).toEqual(['0100007F']); // 127.0.0.1, little-endian hex
  });
});

describe.runIf(process.env.DATABASE_URL)('a whole CLI session keeps every secret out of its output and pages', () => {
  const id = randomBytes(4).toString('hex');
  const role = `pw_sec_${id}`;
  // Characters a password may need percent-encoding for: the decoded form must not leak either.
  const dbPassword = `pg-Secret/${id}+x`;
  const discordSecretPart = `dsc-${randomBytes(12).toString('hex')}`;
  const discordToken = `${Buffer.from('123456789012345678').toString('base64')}.GxYzAb.${discordSecretPart}`;
  const slackBotToken = `xoxb-sec-${id}-bot`;
  const slackAppToken = `xapp-sec-${id}-app`;
  const slackSigningSecret = `sign-sec-${id}`;
  const dashboardToken = `dash-sec-${id}`;
  const secrets = [dbPassword, encodeURIComponent(dbPassword), discordToken, discordSecretPart, slackBotToken, slackAppToken, slackSigningSecret, dashboardToken];

  let admin: pg.Client;
  let url: string;
  let discord: FakeDiscord;
  let slack: FakeSlack;
  /** Everything the session printed and served. */
  const seen: string[] = [];

  function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    return {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      LOG_LEVEL: 'debug',
      LOG_FORMAT: 'json',
      DATABASE_URL: url,
      DISCORD_TOKEN: discordToken,
      DISCORD_API_URL: discord.apiUrl,
      SLACK_BOT_TOKEN: slackBotToken,
      SLACK_APP_TOKEN: slackAppToken,
      SLACK_SIGNING_SECRET: slackSigningSecret,
      SLACK_API_URL: slack.apiUrl,
      DASHBOARD_TOKEN: dashboardToken,
      PORT: '0',
      MAX_NEW_TOKENS: '4',
      LEARNER_IN_PROCESS: 'false',
      ...extra,
    };
  }

  /** Runs `pairwise args` to the end; returns its exit code and everything it printed. */
  function run(args: string[], extraEnv: Record<string, string> = {}): Promise<{ code: number | null; output: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['bin/pairwise.js', ...args], { cwd: ROOT, env: env(extraEnv) });
      let output = '';
      child.stdout.on('data', (d) => (output += d));
      child.stderr.on('data', (d) => (output += d));
      child.on('error', reject);
      child.on('close', (code) => {
        seen.push(output);
        resolve({ code, output });
      });
    });
  }

  beforeAll(async () => {
    admin = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await admin.connect();
    await admin.query(`create role ${role} login password '${dbPassword}'`);
    await admin.query(`create database ${role} owner ${role}`);
    const u = new URL(process.env.DATABASE_URL!);
    u.username = role;
    u.password = encodeURIComponent(dbPassword);
    u.pathname = `/${role}`;
    url = u.toString();
    // A live policy beforehand, so `start` serves at once instead of training one.
    const database = await openDatabase({ url, poolSize: 2 });
    try {
      await publishTinyPolicy(database);
    } finally {
      await database.close();
    }
    discord = await FakeDiscord.start({ token: discordToken });
    slack = await FakeSlack.start({ botToken: slackBotToken, appToken: slackAppToken });
    slack.addUser({ id: 'UALICE001', name: 'alice' });
  });
  afterAll(async () => {
    await discord?.close();
    await slack?.close();
    if (admin) {
      await admin.query(`drop database if exists ${role} with (force)`);
      await admin.query(`drop role if exists ${role}`);
      await admin.end();
    }
  });

  it('start (Discord, Slack, playground, dashboard), status and failures print no secret', { timeout: 90_000 }, async () => {
    const child = spawn(process.execPath, ['bin/pairwise.js', 'start'], { cwd: ROOT, env: env() });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    try {
      await vi.waitFor(() => expect(output.match(/"msg":"adapter started"/g)?.length).toBe(2), { timeout: 60_000, interval: 100 });
      const port = Number(/"url":"http:\/\/127\.0\.0\.1:(\d+)\//.exec(output)?.[1]);
      const base = `http://127.0.0.1:${port}`;
      // Traffic on every surface: a Discord mention and vote, a Slack mention, the pages and APIs.
      const alice = discord.addUser('alice');
      discord.sendMessage({ author: alice, content: `<@${discord.bot.id}> hello there` });
      await vi.waitFor(() => expect(discord.botReactions.length).toBe(4), WAIT);
      discord.addReaction({ user: alice, messageId: discord.posted.at(-1)!.id, emoji: '🅰️' });
      await slack.deliver({ type: 'app_mention', user: 'UALICE001', text: `<@${BOT_USER_ID}> hi`, ts: slack.ts(), channel: 'CGENERAL1' });
      await vi.waitFor(() => expect(slack.reactions.length).toBe(4), WAIT);
      const pages = [
        await fetch(`${base}/`),
        await fetch(`${base}/healthz`),
        await fetch(`${base}/metrics`),
        await fetch(`${base}/dashboard`),
        await fetch(`${base}/dashboard?token=${dashboardToken}`),
        await fetch(`${base}/api/dashboard`, { headers: { authorization: `Bearer ${dashboardToken}` } }),
        await fetch(`${base}/api/chat`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{bad json' }),
        await fetch(`${base}/api/chat`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'zoe', text: 'hi' }) }),
        await fetch(`${base}/no/such/page`),
      ];
      expect(pages.map((p) => p.status)).toEqual([200, 200, 200, 401, 200, 200, 400, 200, 404]);
      for (const p of pages) seen.push(await p.text());
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    seen.push(output);
    // The session really logged at debug level, through both adapters.
    expect(output).toMatch(/"level":"debug"/);
    expect(output).toMatch(/"adapter":"discord"/);
    expect(output).toMatch(/"adapter":"slack"/);

    expect((await run(['status'])).code).toBe(0);
    expect((await run(['status', '--json'])).code).toBe(0);
    // Failures: an unreachable database, for both commands, and a bad URL.
    const unreachable = url.replace(/:\d+\//, ':1/');
    const down = await run(['status'], { DATABASE_URL: unreachable });
    expect(down.code).toBe(1);
    expect(down.output).toMatch(/Cannot connect to PostgreSQL at 127\.0\.0\.1:1/);
    expect((await run(['start'], { DATABASE_URL: unreachable })).code).toBe(1);
    expect((await run(['status'], { DATABASE_URL: url.replace('postgres://', 'mysql://') })).code).toBe(1);

    const everything = seen.join('\n');
    for (const secret of secrets) expect(everything.includes(secret), `"${secret}" was printed or served`).toBe(false);
  });
});
