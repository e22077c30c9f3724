import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { startApp, type App } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { desc } from 'drizzle-orm';
import * as q from '../src/db/queries.ts';
import { prompts } from '../src/db/schema.ts';
import { launchChromium } from './helpers/browser.ts';
import { freshDatabase, type TestDatabase } from './helpers/db.ts';
import { publishTinyPolicy } from './helpers/policy.ts';

let database: TestDatabase;
let app: App;
let base: string;

async function post(path: string, body: unknown, method = 'POST') {
  const res = await fetch(base + path, { method, headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

beforeAll(async () => {
  database = await freshDatabase('pglite');
  await publishTinyPolicy(database);
  const config = loadConfig({ PORT: '0', HOST: '127.0.0.1', MAX_NEW_TOKENS: '8', EVAL_SHARE: '0', LEARNER_IN_PROCESS: 'false' });
  app = await startApp(config, { database });
  base = `http://127.0.0.1:${app.web.port}`;
});
afterAll(async () => {
  await app?.stop();
  await database?.close();
});

describe('playground JSON API', () => {
  it('chats, votes and withdraws', async () => {
    const chat = await post('/api/chat', { user: 'zoe', text: 'hi there' });
    expect(chat.status).toBe(200);
    expect(chat.body).toMatchObject({ conversationId: expect.any(String), promptId: expect.any(String), policyVersion: app.policy.liveVersion() });
    expect((chat.body.candidates as { slot: string }[]).map((c) => c.slot)).toEqual(['a', 'b']);
    const again = await post('/api/chat', { user: 'zoe', text: 'and again', conversationId: chat.body.conversationId });
    expect(again.body.conversationId).toBe(chat.body.conversationId);

    const vote = await post('/api/votes', { promptId: chat.body.promptId, user: 'max', choice: 'tie' });
    expect(vote).toEqual({ status: 200, body: { promptId: chat.body.promptId, user: 'max', choice: 'tie', status: 'stored' } });
    expect(await q.liveVote(database.db, chat.body.promptId as string, 'web', 'max')).toBe('tie');
    const withdrawn = await post('/api/votes', { promptId: chat.body.promptId, user: 'max' }, 'DELETE');
    expect(withdrawn.status).toBe(200);
    expect(await q.liveVote(database.db, chat.body.promptId as string, 'web', 'max')).toBeNull();
  });

  it('answers bad requests with a 4xx naming the field, and stores nothing', async () => {
    const before = (await q.recentContexts(database.db, 1000)).length;
    const cases: [string, unknown, number, string | undefined][] = [
      ['/api/chat', '{not json', 400, undefined],
      ['/api/chat', [], 400, undefined],
      ['/api/chat', { text: 'hi' }, 400, 'user'],
      ['/api/chat', { user: 'zoe' }, 400, 'text'],
      ['/api/chat', { user: 42, text: 'hi' }, 400, 'user'],
      ['/api/chat', { user: 'zoe', text: { $gt: '' } }, 400, 'text'],
      ['/api/chat', { user: 'x'.repeat(101), text: 'hi' }, 400, 'user'],
      ['/api/votes', { promptId: 'nope', user: 'zoe', choice: 'a' }, 404, 'promptId'],
      ['/api/votes', { promptId: '00000000-0000-0000-0000-000000000000', user: 'zoe', choice: 'maybe' }, 400, 'choice'],
      ['/api/votes', { user: 'zoe', choice: 'a' }, 400, 'promptId'],
    ];
    for (const [path, body, status, field] of cases) {
      const res = await post(path, body);
      expect(res.status, `${path} ${JSON.stringify(body)}`).toBe(status);
      expect(res.body.error).toEqual(expect.any(String));
      if (field) expect(res.body.field).toBe(field);
    }
    expect((await post('/api/nothing', {})).status).toBe(404);
    expect((await fetch(base + '/api/chat')).status).toBe(405);
    expect((await q.recentContexts(database.db, 1000)).length).toBe(before);
  });

  it('serves health and Prometheus metrics', async () => {
    const health = await (await fetch(base + '/healthz')).json();
    expect(health).toMatchObject({ ok: true, liveVersion: app.policy.liveVersion() });
    const metrics = await (await fetch(base + '/metrics')).text();
    expect(metrics).toMatch(/pairwise_replies_total\{platform="web",kind="normal"\} \d+/);
    expect(metrics).toMatch(/pairwise_live_policy_version \d+/);
    expect(metrics).toMatch(/pairwise_generation_seconds_bucket/);
  });
});

describe('playground page in headless Chromium', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await launchChromium();
  });
  afterAll(() => browser?.close());

  it('sends a message, shows A and B, votes, and withdraws on a second click', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(base + '/');
    await page.fill('#name', 'pia');
    await page.fill('#text', '<b>bold?</b> hello');
    await page.click('#send button');
    const exchange = page.locator('.exchange').last();
    await exchange.locator('.cand[data-slot="b"] p').waitFor();
    // Text is shown as text, never as HTML.
    expect(await exchange.locator('.user-msg').textContent()).toBe('<b>bold?</b> hello');
    expect(await exchange.locator('.user-msg b').count()).toBe(0);
    expect(await exchange.locator('.version').textContent()).toBe(`policy v${app.policy.liveVersion()}`);
    const [context] = await q.recentContexts(database.db, 1);
    expect(context.at(-1)).toEqual({ role: 'user', text: '<b>bold?</b> hello' });

    await exchange.locator('button[data-choice="b"]').click();
    await expect.poll(() => exchange.locator('button.active').getAttribute('data-choice')).toBe('b');
    const promptId = await latestPromptId();
    expect(await q.liveVote(database.db, promptId, 'web', 'pia')).toBe('b');
    await exchange.locator('button[data-choice="b"]').click();
    await expect.poll(() => exchange.locator('button.active').count()).toBe(0);
    await expect.poll(() => q.liveVote(database.db, promptId, 'web', 'pia')).toBeNull();
    expect(errors, errors.join("\n")).toEqual([]);
    await page.close();
  });
});

async function latestPromptId(): Promise<string> {
  const [row] = await database.db.select({ id: prompts.id }).from(prompts).orderBy(desc(prompts.createdAt)).limit(1);
  return row.id;
}
