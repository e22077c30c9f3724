// No crash on bad input: seeded random and hostile input to the chat service (with a real tiny
// policy) and to the HTTP API of the real web server. Nothing may throw or answer 5xx; text is
// stored exactly (after trimming) or refused with a clear one-line message; the playground and the
// dashboard show hostile text as text in Chromium. FUZZ_SEED=<n> replays a failing run.
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApp, type App } from '../src/app.ts';
import { ChatService, type GeneratedReply, type Responder } from '../src/chat/service.ts';
import type { ChatUser, IncomingMessage } from '../src/chat/types.ts';
import { playgroundRoutes } from '../src/chat/web.ts';
import { loadConfig } from '../src/config.ts';
import * as q from '../src/db/queries.ts';
import { mulberry32 } from '../src/model/prng.ts';
import { dashboardRoutes } from '../src/web/dashboard.ts';
import { startHttpServer, type WebServer } from '../src/web/http.ts';
import { pageRoutes } from '../src/web/pages.ts';
import { launchChromium } from './helpers/browser.ts';
import { freshDatabase, type TestDatabase } from './helpers/db.ts';
import { publishTinyPolicy } from './helpers/policy.ts';

const SEED = Number(process.env.FUZZ_SEED ?? 20_241_204);
const MAX_CHARS = 2000;
/** The server's body cap (src/web/http.ts). */
const MAX_BODY_BYTES = 1 << 20;

/** Hostile fragments: the fuzzer glues a few together, with random code points between. */
const ATOMS = [
  '',
  ' ',
  '\t\n\r ',
  'hello',
  'help',
  'STATUS',
  '/opt out',
  '!opt in',
  '👍🏽',
  '👨‍👩‍👧‍👦',
  '🅰️🅱️🤝👎',
  '🇺🇸🏳️‍🌈',
  'مرحبا بالعالم',
  'שלום עולם',
  '\u202Egnp.exe\u202C',
  '\u200F\u200E\u200B\u2060',
  '\uFEFF',
  "'; drop table votes; --",
  "' or '1'='1",
  '$1 $$ $tag$ \\x00',
  "E'\\\\' ",
  '<script>window.__pwned=1</script>',
  '<img src=x onerror="window.__pwned=1">',
  '"><svg/onload=window.__pwned=1>',
  '&lt;b&gt; &amp;amp; &#60;',
  '<!-- ]]> <![CDATA[',
  '{"user":1,"text":[]}',
  '\\u0000 \\ud800',
  '\u0001\u0002\u001b[31m\u007f\u0085\u009f',
  '\uFFFD\uFFFF\uFFFE',
  '\u{10FFFF}\u{E0001}',
  'e\u0301\u0302\u0303\u0304',
  '\u0000',
  '\uD800',
  '\uDC00x',
  'a\uD83D',
  '@everyone <@123> <!channel>',
  'null',
];

function hostileString(rand: () => number): string {
  const pick = () => ATOMS[Math.floor(rand() * ATOMS.length)];
  const r = rand();
  if (r < 0.04) return 'x'.repeat(MAX_CHARS - 1 + Math.floor(rand() * 3)); // around the limit
  if (r < 0.06) return '🙂'.repeat(Math.floor(rand() * 2000));
  let out = '';
  for (let n = 1 + Math.floor(rand() * 4); n > 0; n--) {
    out += pick();
    if (rand() < 0.3) out += String.fromCodePoint(Math.floor(rand() * 0x11_0000) & ~(rand() < 0.9 ? 0xf800 : 0)); // mostly no surrogates
  }
  return out;
}

/** Why the service must refuse `text`, as its message says, or null when it must answer. */
function refusal(text: string): RegExp | null {
  const t = text.trim();
  if (t.length === 0) return /Send me some text/;
  if (t.includes('\u0000')) return /NUL character/;
  if (/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(t)) return /unpaired UTF-16 surrogate/;
  if (t.length > MAX_CHARS) return new RegExp(`the limit is ${MAX_CHARS}`);
  return null;
}

/** A text reply users read: one line or a few, no stack trace, no internals. */
function expectClearMessage(text: string): void {
  expect(text.length).toBeGreaterThan(0);
  expect(text).not.toMatch(/\n\s+at |Error:|undefined|\[object/);
}

let database: TestDatabase;
let app: App;
let policyVersion: number;

// One database and one app (with its real ChatService and tiny policy) for every part.
beforeAll(async () => {
  database = await freshDatabase('pglite');
  policyVersion = (await publishTinyPolicy(database)).id;
  const config = loadConfig({ PORT: '0', MAX_NEW_TOKENS: '4', EVAL_SHARE: '0', LEARNER_IN_PROCESS: 'false', RATE_LIMIT_PER_MINUTE: '10000', MAX_MESSAGE_CHARS: String(MAX_CHARS) });
  app = await startApp(config, { database });
});
afterAll(async () => {
  await app?.stop();
  await database?.close();
});

describe('fuzzing the chat service with a real tiny policy', () => {
  it(`answers or refuses 150 hostile messages and reactions without throwing (seed ${SEED})`, async () => {
    const rand = mulberry32(SEED);
    const prompts: string[] = [];
    let answered = 0;
    let refused = 0;
    for (let i = 0; i < 150; i++) {
      // Names and places are hostile too, but platform ids never hold NUL or broken characters.
      const plausible = () => hostileString(rand).replace(/\u0000|[\uD800-\uDFFF]/g, '').slice(0, 100) || 'x';
      const user: ChatUser = { platform: (['discord', 'slack', 'web'] as const)[i % 3], externalId: plausible(), displayName: plausible(), isBot: false };
      const msg: IncomingMessage = { user, channelId: plausible(), threadId: rand() < 0.5 ? plausible() : null, eventId: `fuzz-${i}-${plausible()}`, text: hostileString(rand) };
      const what = `case ${i}: ${JSON.stringify(msg)}`;
      const reply = await app.service.handleMessage(msg);
      const refuse = refusal(msg.text);
      if (reply.kind === 'candidates') {
        expect(refuse, what).toBeNull();
        const stored = await q.findPromptByEvent(database.db, user.platform, msg.eventId);
        expect(stored?.prompt.userText, what).toBe(msg.text.trim());
        expect(stored?.prompt.context.at(-1), what).toEqual({ role: 'user', text: msg.text.trim() });
        expect(stored?.candidates.map((c) => c.text), what).toEqual(reply.candidates.map((c) => c.text));
        prompts.push(reply.promptId);
        answered++;
      } else {
        expect(reply.kind, what).toBe('text');
        const text = (reply as { text: string }).text;
        expectClearMessage(text);
        if (refuse) expect(text, what).toMatch(refuse);
        refused++;
      }
      // A hostile reaction target is simply not a prompt; a real one takes the vote.
      const target = rand() < 0.5 && prompts.length ? { promptId: prompts[Math.floor(rand() * prompts.length)] } : rand() < 0.5 ? { promptId: hostileString(rand) } : { platform: user.platform, platformMessageId: plausible() };
      const outcome = await app.service.handleReaction({ user, target, choice: (['a', 'b', 'tie', 'both_bad'] as const)[i % 4], action: rand() < 0.8 ? 'add' : 'remove' });
      expect(['stored', 'withdrawn', 'ignored'], what).toContain(outcome.kind);
    }
    // The mix really exercised both paths.
    expect(answered).toBeGreaterThan(30);
    expect(refused).toBeGreaterThan(20);
  });
});

describe('fuzzing the HTTP API of the real web server', () => {
  const base = () => `http://127.0.0.1:${app.web.port}`;

  /** A random JSON value of a wrong or odd type. */
  function oddValue(rand: () => number, depth = 0): unknown {
    const r = rand();
    if (r < 0.1) return null;
    if (r < 0.2) return [1e308, -0, 2 ** 53 + 1, -1e-320][Math.floor(rand() * 4)];
    if (r < 0.3) return rand() < 0.5;
    if (r < 0.4 && depth < 3) return [oddValue(rand, depth + 1)];
    // An own "__proto__" key, as JSON.parse makes it: it must not reach any prototype.
    if (r < 0.5 && depth < 3) return { ...JSON.parse('{"__proto__":{"isAdmin":true}}'), toString: 'x', nested: oddValue(rand, depth + 1) };
    return hostileString(rand);
  }

  function body(rand: () => number, promptId: string | undefined): { raw: string | Buffer; kind: string } {
    const r = rand();
    if (r < 0.05) return { raw: '['.repeat(100_000) + ']'.repeat(100_000), kind: 'deep array' };
    if (r < 0.08) return { raw: '{"a":'.repeat(50_000) + '1' + '}'.repeat(50_000), kind: 'deep object' };
    if (r < 0.11) return { raw: Buffer.from([0xff, 0xfe, 0x00, 0x7b, 0xc3, 0x28, 0xa0, 0xa1]), kind: 'non-UTF-8 bytes' };
    if (r < 0.14) return { raw: ['', 'null', '[]', '"text"', '123', '{', '{"user":', '\uFEFF{}', 'user=a&text=b'][Math.floor(rand() * 9)], kind: 'not an object' };
    if (r < 0.17) return { raw: JSON.stringify({ user: 'big', text: 'y'.repeat(MAX_BODY_BYTES) }), kind: 'oversized' };
    const fields: Record<string, unknown> = {};
    const value = (good: () => unknown) => (rand() < 0.6 ? good() : oddValue(rand));
    fields.user = value(() => hostileString(rand).slice(0, 100) || 'u');
    fields.text = value(() => hostileString(rand));
    if (rand() < 0.3) fields.conversationId = value(() => hostileString(rand).slice(0, 100));
    fields.promptId = value(() => (promptId && rand() < 0.7 ? promptId : hostileString(rand)));
    fields.choice = value(() => ['a', 'b', 'tie', 'both_bad', 'A', 'c'][Math.floor(rand() * 6)]);
    if (rand() < 0.3) fields[hostileString(rand) || 'extra'] = oddValue(rand);
    return { raw: JSON.stringify(fields), kind: 'fields' };
  }

  it(`answers 250 hostile requests with 2xx or a clear 4xx, never 5xx (seed ${SEED})`, async () => {
    const rand = mulberry32(SEED + 1);
    const routes = [
      ['POST', '/api/chat'],
      ['POST', '/api/votes'],
      ['DELETE', '/api/votes'],
    ] as const;
    const oddRoutes = [
      ['PUT', '/api/chat'],
      ['OPTIONS', '/api/votes'],
      ['POST', '/api/chat/'],
      ['POST', '/API/CHAT'],
      ['GET', '/%00'],
      ['GET', '/..%2f..%2fetc%2fpasswd'],
      ['POST', '/' + 'a'.repeat(4000)],
      ['POST', '/api/chat?text=<script>'],
      ['PATCH', '/slack/events'],
    ] as const;
    const contentTypes = ['application/json', 'application/json; charset=utf-8', 'APPLICATION/JSON', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', undefined];
    let promptId: string | undefined;
    const statuses = new Map<number, number>();
    for (let i = 0; i < 250; i++) {
      const [method, path] = rand() < 0.9 ? routes[Math.floor(rand() * routes.length)] : oddRoutes[Math.floor(rand() * oddRoutes.length)];
      const { raw, kind } = body(rand, promptId);
      const contentType = rand() < 0.8 ? 'application/json' : contentTypes[Math.floor(rand() * contentTypes.length)];
      const what = `case ${i}: ${method} ${path.slice(0, 60)} (${contentType}) ${kind}: ${String(raw).slice(0, 300)}`;
      const res = await fetch(base() + path, { method, headers: contentType ? { 'content-type': contentType } : {}, body: method === 'GET' || method === 'OPTIONS' ? undefined : typeof raw === 'string' ? raw : new Uint8Array(raw) });
      const text = await res.text();
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      expect(res.status, `${what}\n-> ${text}`).toBeLessThan(500);
      const json = JSON.parse(text) as Record<string, unknown>;
      if (res.status >= 400) {
        expect(typeof json.error, what).toBe('string');
        expectClearMessage(json.error as string);
        continue;
      }
      if (path === '/api/chat' && Array.isArray(json.candidates)) {
        const fields = JSON.parse(String(raw)) as { text: string };
        promptId = json.promptId as string;
        const stored = await q.findPromptId(database.db, { promptId });
        expect(stored?.userText, what).toBe(fields.text.trim());
      } else if (path === '/api/chat') {
        expectClearMessage(json.message as string);
      }
    }
    // The mix really reached every outcome: answers, refusals by the API, unknown prompts, oversized bodies, wrong types.
    for (const status of [200, 400, 404, 413, 415]) expect(statuses.get(status) ?? 0, `status ${status} in ${JSON.stringify([...statuses])}`).toBeGreaterThan(0);
    // And the server still serves.
    expect((await fetch(base() + '/healthz')).status).toBe(200);
  });
});

/** Answers every message with the message itself as both candidates: hostile text straight onto the page. */
class EchoResponder implements Responder {
  constructor(private readonly version: number) {}
  liveVersion(): number {
    return this.version;
  }
  async respond(context: { text: string }[]) {
    const reply = (text: string): GeneratedReply => ({ text, tokenIds: [1], logprobs: [-1], policyVersionId: this.version, sampling: { temperature: 1, topP: 1, maxNewTokens: 1, seed: 0 }, latencyMs: 0 });
    const text = context.at(-1)!.text;
    return { kind: 'normal', replies: [reply(`A: ${text}`), reply(`B: ${text}`)] as [GeneratedReply, GeneratedReply] };
  }
}

describe('hostile text on the pages, in headless Chromium', () => {
  const HOSTILE = ATOMS.filter((a) => /[<>&"']|[\u0590-\u06FF\u202E]|👨/.test(a));
  let web: WebServer;
  let browser: Browser;
  let base: string;

  beforeAll(async () => {
    const service = new ChatService(database, new EchoResponder(policyVersion), { maxMessageChars: MAX_CHARS, rateLimitPerMinute: 10_000, contextTurns: 2, allowVoteOnOwnPrompt: true, admins: new Set(), voteRetryMs: 1000 });
    // What the dashboard shows as text: a version's reason and a run's outcome.
    await q.setPolicyStatus(database.db, policyVersion, 'live', HOSTILE.join(' '));
    const run = await q.startRun(database.db);
    await q.finishRun(database.db, run, 'failed', { error: HOSTILE.join(' | ') });
    const routes = [...pageRoutes(async () => ({ ok: true })), ...playgroundRoutes(service), ...dashboardRoutes(database, { DASHBOARD_TOKEN: undefined })];
    web = await startHttpServer(routes, '127.0.0.1', 0);
    base = `http://127.0.0.1:${web.port}`;
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await web?.close();
  });

  it('shows hostile messages and candidates on the playground as text, running nothing', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(base + '/');
    await page.fill('#name', '<b>name</b>');
    for (const text of HOSTILE) {
      await page.fill('#text', text);
      await page.click('#send button');
      const exchange = page.locator('.exchange').nth(HOSTILE.indexOf(text));
      await exchange.locator('.cand[data-slot="b"] p').waitFor();
      expect(await exchange.locator('.user-msg').textContent()).toBe(text);
      // Slot order is random per prompt.
      const shown = await exchange.locator('.cand p').allTextContents();
      expect(shown.sort()).toEqual([`A: ${text.trim()}`, `B: ${text.trim()}`]);
    }
    expect(await page.locator('#log script, #log img, #log svg, #log b').count()).toBe(0);
    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
    expect(errors).toEqual([]);
  });

  it('shows hostile reasons and run errors on the dashboard as text, running nothing', async () => {
    const page = await browser.newPage();
    await page.goto(base + '/dashboard');
    await page.locator('body[data-ready]').waitFor();
    const shown = await page.locator('body').innerText();
    expect(shown).toContain('<img src=x onerror="window.__pwned=1">');
    expect(await page.locator('main script, main img, main svg').count()).toBe(0);
    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
  });
});
