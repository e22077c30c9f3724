import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { chromium, type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../src/db/client.ts';
import * as q from '../src/db/queries.ts';
import { dashboardData, dashboardRoutes, type DashboardData } from '../src/web/dashboard.ts';
import { startHttpServer, type WebServer } from '../src/web/http.ts';
import { pageRoutes } from '../src/web/pages.ts';
import { drivers, freshDatabase, type TestDatabase } from './helpers/db.ts';
import { person, seedMatch, seedPrompt, seedVersion, seedVote } from './helpers/seed.ts';

const TOKEN = 'dashboard-sekret-42';
const today = new Date().toISOString().slice(0, 10);

let browser: BrowserContext;
const profile = mkdtempSync(path.join(tmpdir(), 'pairwise-chromium-'));
beforeAll(async () => {
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});
afterAll(async () => {
  await browser?.close();
  rmSync(profile, { recursive: true, force: true });
});

interface Seeded {
  v: number[];
  votes: number;
}

/** Four versions (v3 live and losing to its parent, v4 a challenger), votes on three platforms over four days, three runs. */
async function seed(db: Db): Promise<Seeded> {
  const v1 = await seedVersion(db, { status: 'retired', kind: 'sft' });
  const v2 = await seedVersion(db, { status: 'retired', parentId: v1 });
  const v3 = await seedVersion(db, { status: 'candidate', parentId: v2 });
  await q.makeLive(db, v3);
  const v4 = await seedVersion(db, { status: 'challenger', parentId: v3 });
  await q.setPolicyStatus(db, v2, 'retired', 'retired by <b>ops</b> <img src=x onerror="window.pwned=1">');
  await seedMatch(db, [v2, v1], [...Array.from({ length: 12 }, () => 'a' as const), ...Array.from({ length: 8 }, () => 'b' as const)]);
  await seedMatch(db, [v3, v2], [...Array.from({ length: 3 }, () => 'a' as const), ...Array.from({ length: 21 }, () => 'b' as const)]);
  await seedMatch(db, [v4, v3], ['a', 'a', 'b', 'tie', 'tie'], 'challenger');
  let votes = 20 + 24 + 5;
  const platforms = ['discord', 'slack', 'web'] as const;
  const choices = ['a', 'a', 'b', 'tie', 'both_bad'] as const;
  for (const [i, platform] of platforms.entries()) {
    const prompt = await seedPrompt(db, { user: person(`asker-${platform}`, platform), versions: [v3, v3] });
    for (const [j, choice] of choices.slice(0, i + 3).entries()) await seedVote(db, prompt, person(`voter-${j}`, platform), choice);
    votes += i + 3;
  }
  for (const reason of ['blocklist', 'blocklist', 'repetition']) await q.recordBlocked(db, v3, reason, false);
  // Spread the votes over the last four days, so the daily charts have several points.
  await db.execute(sql`update votes set created_at = now() - make_interval(days => (id % 4)::int)`);
  const runs: [q.NewPolicyVersion['status'] | 'succeeded' | 'rejected', Record<string, unknown>][] = [
    ['succeeded', { rmAccuracy: 0.61, rmLoss: 0.66, meanRewardBefore: -0.2, meanRewardAfter: 0.1, kl: 0.02, clipFraction: 0.1 }],
    ['rejected', { rmAccuracy: 0.64, meanRewardBefore: 0.05, meanRewardAfter: 0.3, kl: 0.2, clipFraction: 0.3, gate: { reason: 'distinct-2 fell', distinct2: 0.1 } }],
    ['succeeded', { rmAccuracy: 0.7, meanRewardBefore: 0.1, meanRewardAfter: 0.4, kl: 0.03, clipFraction: 0.12 }],
  ];
  for (const [status, metrics] of runs) {
    const id = await q.startRun(db);
    await q.finishRun(db, id, status as 'succeeded' | 'rejected', { metrics, counts: { pairs: 40, newPairs: 10, heldOut: 8 }, policyVersionId: status === 'succeeded' ? v3 : null });
  }
  return { v: [v1, v2, v3, v4], votes };
}

describe.each(drivers)('dashboard on %s', (driver) => {
  let database: TestDatabase;
  let seeded: Seeded;
  let empty: DashboardData;
  let web: WebServer;
  let base: string;

  beforeAll(async () => {
    database = await freshDatabase(driver);
    empty = await dashboardData(database.db);
    seeded = await seed(database.db);
    web = await startHttpServer(
      [...dashboardRoutes(database, { DASHBOARD_TOKEN: TOKEN }), ...pageRoutes(async () => ({ ok: true }))],
      '127.0.0.1',
      0,
    );
    base = `http://127.0.0.1:${web.port}`;
  });
  afterAll(async () => {
    await web?.close();
    await database?.close();
  });

  it('assembles empty data on an empty database', () => {
    expect(empty).toMatchObject({ votes: { total: 0, byPlatform: {} }, runs: [], live: null, lastRun: null, versions: [], alerts: [], challenger: null });
    expect(empty.blocked.every((n) => n === 0)).toBe(true);
    expect(empty.positionBias.shareA.every((x) => x === null)).toBe(true);
    expect(empty.votes.byChoice.a).toHaveLength(30);
  });

  it('assembles the data: votes per day, position bias, runs, ratings, alert and challenger', async () => {
    const d = await dashboardData(database.db);
    const [v1, v2, v3, v4] = seeded.v;
    expect(d.days).toHaveLength(30);
    expect(d.days.at(-1)).toBe(today);
    expect(d.votes.total).toBe(seeded.votes);
    expect(Object.keys(d.votes.byPlatform).sort()).toEqual(['discord', 'slack', 'web']);
    const sum = (xs: number[]) => xs.reduce((s, x) => s + x, 0);
    expect(sum(Object.values(d.votes.byChoice).map(sum))).toBe(seeded.votes);
    expect(d.votes.byChoice.a.filter((n) => n > 0).length).toBeGreaterThan(1);
    for (const [i, n] of d.positionBias.decided.entries()) {
      expect(n).toBe(d.votes.byChoice.a[i] + d.votes.byChoice.b[i]);
      expect(d.positionBias.shareA[i]).toBe(n ? d.votes.byChoice.a[i] / n : null);
    }
    expect(d.runs.map((r) => r.rmAccuracy)).toEqual([0.61, 0.64, 0.7]);
    expect(d.runs[1].outcome).toBe('rejected by the gate: distinct-2 fell');
    expect(d.lastRun).toMatchObject({ status: 'succeeded', outcome: `succeeded: made v${v3}`, kl: 0.03 });
    expect(d.live).toMatchObject({ id: v3, parentId: v2 });
    expect(d.versions.map((v) => v.id)).toEqual([v1, v2, v3, v4]);
    for (const v of d.versions) {
      expect(v.rating).not.toBeNull();
      expect(v.low!).toBeLessThanOrEqual(v.rating!);
      expect(v.high!).toBeGreaterThanOrEqual(v.rating!);
    }
    expect(d.versions[2].vsParent).toMatchObject({ games: 24, wins: 3, alert: true });
    expect(d.versions[1].vsParent).toMatchObject({ games: 20, wins: 12, alert: false });
    expect(d.alerts).toEqual([expect.objectContaining({ versionId: v3, parentId: v2, status: 'live', command: 'pairwise policy rollback' })]);
    expect(d.challenger).toMatchObject({ versionId: v4, liveVersionId: v3, games: 5, wins: 3 });
    expect(d.blocked).toHaveLength(30);
    expect(d.blocked.at(-1)).toBe(3);
  });

  it('requires the token on the page and its API, by query or bearer header', async () => {
    for (const url of ['/dashboard', '/api/dashboard', `/dashboard?token=${TOKEN}x`, '/api/dashboard?token=']) {
      const res = await fetch(base + url);
      expect(res.status, url).toBe(401);
      expect((await res.json()).error).toMatch(/needs its token/);
    }
    expect((await fetch(`${base}/api/dashboard`, { headers: { authorization: 'Bearer nope' } })).status).toBe(401);
    expect((await fetch(`${base}/dashboard?token=${TOKEN}`)).status).toBe(200);
    const api = await fetch(`${base}/api/dashboard`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(api.status).toBe(200);
    expect((await api.json()).votes.total).toBe(seeded.votes);
    const chart = await fetch(`${base}/static/chart.umd.js`);
    expect(chart.status).toBe(200);
    expect(await chart.text()).toContain('Chart.js v4');
    // Read-only: nothing but GET.
    expect((await fetch(`${base}/api/dashboard?token=${TOKEN}`, { method: 'POST' })).status).toBe(405);
  });

  it('draws every chart with data in a real browser, without console errors', async () => {
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()}`));
    try {
      const response = await page.goto(`${base}/dashboard?token=${TOKEN}`);
      expect(response?.status()).toBe(200);
      await page.waitForSelector('body[data-ready="true"]', { timeout: 30_000 });
      const points = await page.evaluate(() => {
        const charts = (window as unknown as { dashboardCharts: Record<string, { data: { labels: unknown[]; datasets: { data: unknown[] }[] } }> }).dashboardCharts;
        return Object.fromEntries(
          Object.entries(charts).map(([name, c]) => [name, { labels: c.data.labels.length, points: c.data.datasets.map((d) => d.data.filter((x) => x !== null && x !== 0).length) }]),
        );
      });
      expect(Object.keys(points).sort()).toEqual(['blocked', 'policyUpdate', 'positionBias', 'ratings', 'rmAccuracy', 'votesByChoice', 'votesByPlatform']);
      expect(points.votesByPlatform).toEqual({ labels: 30, points: [expect.any(Number), expect.any(Number), expect.any(Number)] });
      for (const [name, { points: p }] of Object.entries(points)) expect(p.some((n: number) => n > 0), name).toBe(true);
      expect(points.rmAccuracy.points).toEqual([3]);
      expect(points.ratings).toEqual({ labels: 4, points: [4, 4] });
      expect(points.positionBias.points[1]).toBe(30);

      const [, v2, v3, v4] = seeded.v;
      const alert = page.locator('#alerts');
      expect(await alert.isVisible()).toBe(true);
      expect(await alert.textContent()).toContain(`Policy v${v3} (live) loses clearly to its parent v${v2}`);
      expect(await alert.locator('code').textContent()).toBe('pairwise policy rollback');
      expect(await page.locator('#live').textContent()).toMatch(new RegExp(`^v${v3} \\(ppo\\)\\npublished ${today} \\d\\d:\\d\\d UTC$`));
      expect(await page.locator('#last-run').textContent()).toContain(`succeeded: made v${v3}`);
      expect(await page.locator('#challenger').textContent()).toContain(`v${v4} vs v${v3}: wins 60%`);
      expect(await page.locator('#versions tbody tr').count()).toBe(4);
      // Text from the database is shown as text, never parsed as HTML.
      expect(await page.locator('#versions').textContent()).toContain('retired by <b>ops</b> <img src=x');
      expect(await page.locator('#versions b, #versions img').count()).toBe(0);
      expect(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned)).toBeUndefined();

      mkdirSync('test-artifacts', { recursive: true });
      await page.screenshot({ path: `test-artifacts/dashboard${driver === 'pg' ? '-pg' : ''}.png`, fullPage: true });
      expect(problems).toEqual([]);
    } finally {
      await page.close();
    }
  });
});
