// The read-only dashboard: GET /dashboard (the page), GET /api/dashboard (everything it draws) and
// the Chart.js bundle from node_modules. With DASHBOARD_TOKEN set, the page and its API need the
// token as ?token= or "Authorization: Bearer".
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Config } from '../config.ts';
import type { Database, Tx } from '../db/client.ts';
import { listPolicyVersions } from '../db/queries.ts';
import { blockedPerDay, dailyVoteCounts, describeRun, evaluationComparisons, recentRuns } from '../db/reports.ts';
import { outlierReport, type OutlierReport } from '../learn/outliers.ts';
import type { LearnerRun, PolicyVersion } from '../db/schema.ts';
import { DEFAULT_RATING_CONFIG, headToHead, rateVersions, ROLLBACK_COMMAND, type HeadToHead, type RatingConfig } from '../learn/ratings.ts';
import { log } from '../log.ts';
import { HttpError, sendJson, sendText, type Route } from './http.ts';

export interface DashboardOptions {
  /** Days of vote history the daily charts cover, today included. */
  days: number;
  /** Learner runs the per-run charts show, the newest last. */
  runs: number;
  /** Policy versions the table and the ratings chart show, the newest (ratings still use every evaluation vote). */
  versions: number;
  rating: RatingConfig;
}

export const DEFAULT_DASHBOARD_OPTIONS: DashboardOptions = { days: 30, runs: 50, versions: 50, rating: DEFAULT_RATING_CONFIG };

const CHOICES = ['a', 'b', 'tie', 'both_bad'] as const;

export interface RunPoint {
  id: number;
  startedAt: string;
  finishedAt: string | null;
  status: string;
  outcome: string;
  counts: Record<string, number>;
  rmAccuracy: number | null;
  rmLoss: number | null;
  meanRewardBefore: number | null;
  meanRewardAfter: number | null;
  kl: number | null;
  clipFraction: number | null;
  entropy: number | null;
  durationS: number | null;
}

export interface VersionRow {
  id: number;
  parentId: number | null;
  kind: string;
  status: string;
  createdAt: string;
  publishedAt: string | null;
  reason: string | null;
  rating: number | null;
  low: number | null;
  high: number | null;
  games: number;
  vsParent: (HeadToHead & { alert: boolean }) | null;
}

export interface VersionAlert extends HeadToHead {
  versionId: number;
  parentId: number;
  status: string;
  /** What to run, for the live version; null when the version no longer serves. */
  command: string | null;
}

export interface DashboardData {
  generatedAt: string;
  /** Every UTC day of the window, oldest first: the x axis of the daily charts. */
  days: string[];
  votes: { total: number; byPlatform: Record<string, number[]>; byChoice: Record<string, number[]> };
  /** Per day, the share of decided (A or B) votes that went to slot A; null on days without any. */
  positionBias: { shareA: (number | null)[]; decided: number[] };
  runs: RunPoint[];
  live: { id: number; kind: string; publishedAt: string | null; parentId: number | null } | null;
  lastRun: RunPoint | null;
  versions: VersionRow[];
  alerts: VersionAlert[];
  /** Candidates the content filter blocked, per day of `days`. */
  blocked: number[];
  /** Voters who disagree with the consensus far more than chance. */
  outliers: OutlierReport;
  /** The challenger's record against the live version on challenger and evaluation prompts; null without a challenger. */
  challenger: (HeadToHead & { versionId: number; liveVersionId: number }) | null;
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);
const finite = (x: unknown) => (typeof x === 'number' && Number.isFinite(x) ? x : null);
const matchRecord = (h: HeadToHead): HeadToHead => ({ games: h.games, wins: h.wins, winRate: h.winRate, low: h.low, high: h.high });

function utcDays(count: number, now: Date): string[] {
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  return Array.from({ length: count }, (_, i) => new Date(today - (count - 1 - i) * 86_400_000).toISOString().slice(0, 10));
}

export function runPoint(run: LearnerRun): RunPoint {
  const m = run.metrics;
  return {
    id: run.id,
    startedAt: run.startedAt.toISOString(),
    finishedAt: iso(run.finishedAt),
    status: run.status,
    outcome: describeRun(run),
    counts: run.counts,
    rmAccuracy: finite(m.rmAccuracy),
    rmLoss: finite(m.rmLoss),
    meanRewardBefore: finite(m.meanRewardBefore),
    meanRewardAfter: finite(m.meanRewardAfter),
    kl: finite(m.kl),
    clipFraction: finite(m.clipFraction),
    entropy: finite(m.entropy),
    durationS: finite(m.durationS),
  };
}

/** Ratings, parent records and alerts for every version. */
async function versionRows(tx: Tx, versions: PolicyVersion[], options: DashboardOptions) {
  const comparisons = await evaluationComparisons(tx);
  const report = rateVersions(comparisons, new Map(versions.map((v) => [v.id, v.parentId])), options.rating);
  const ratingOf = new Map(report.ratings.map((r) => [r.versionId, r]));
  const parentOf = new Map(report.vsParent.map((m) => [m.versionId, m]));
  const rows: VersionRow[] = versions.slice(-options.versions).map((v) => {
    const r = ratingOf.get(v.id);
    const p = parentOf.get(v.id);
    return {
      id: v.id,
      parentId: v.parentId,
      kind: v.kind,
      status: v.status,
      createdAt: v.createdAt.toISOString(),
      publishedAt: iso(v.publishedAt),
      reason: v.reason,
      rating: r ? r.rating : null,
      low: r ? finite(r.low) : null,
      high: r ? finite(r.high) : null,
      games: r?.games ?? 0,
      vsParent: p ? { ...matchRecord(p), alert: p.alert } : null,
    };
  });
  const alerts: VersionAlert[] = report.vsParent
    .filter((m) => m.alert)
    .map((m) => {
      const status = versions.find((v) => v.id === m.versionId)?.status ?? 'unknown';
      return { versionId: m.versionId, parentId: m.parentId, status, ...matchRecord(m), command: status === 'live' ? ROLLBACK_COMMAND : null };
    });
  return { rows, alerts, comparisons };
}

/** Everything the dashboard page draws, as plain JSON. */
export async function dashboardData(tx: Tx, options: DashboardOptions = DEFAULT_DASHBOARD_OPTIONS, now = new Date()): Promise<DashboardData> {
  const days = utcDays(options.days, now);
  const since = new Date(`${days[0]}T00:00:00Z`);
  const column = new Map(days.map((d, i) => [d, i]));
  const zeros = () => days.map(() => 0);

  const byPlatform: Record<string, number[]> = {};
  const byChoice: Record<string, number[]> = Object.fromEntries(CHOICES.map((c) => [c, zeros()]));
  const blocked = zeros();
  let total = 0;
  for (const row of await dailyVoteCounts(tx, since)) {
    const i = column.get(row.day);
    if (i === undefined) continue;
    (byPlatform[row.platform] ??= zeros())[i] += row.n;
    (byChoice[row.choice] ??= zeros())[i] += row.n;
    total += row.n;
  }
  for (const row of await blockedPerDay(tx, since)) {
    const i = column.get(row.day);
    if (i !== undefined) blocked[i] += row.n;
  }
  const decided = days.map((_, i) => byChoice.a[i] + byChoice.b[i]);
  const shareA = decided.map((n, i) => (n ? byChoice.a[i] / n : null));

  const versions = await listPolicyVersions(tx);
  const { rows, alerts, comparisons } = await versionRows(tx, versions, options);
  const live = versions.find((v) => v.status === 'live');
  const challengerVersion = versions.filter((v) => v.status === 'challenger').at(-1);
  const runs = (await recentRuns(tx, options.runs)).map(runPoint);

  return {
    generatedAt: now.toISOString(),
    days,
    votes: { total, byPlatform, byChoice },
    positionBias: { shareA, decided },
    runs,
    live: live ? { id: live.id, kind: live.kind, publishedAt: iso(live.publishedAt), parentId: live.parentId } : null,
    lastRun: runs.at(-1) ?? null,
    versions: rows,
    alerts,
    blocked,
    outliers: await outlierReport(tx),
    challenger:
      challengerVersion && live
        ? { versionId: challengerVersion.id, liveVersionId: live.id, ...headToHead(comparisons, challengerVersion.id, live.id) }
        : null,
  };
}

/** Compares in constant time whatever the lengths: both sides are hashed first. */
function tokenMatches(given: string | null, expected: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(given ?? ''), digest(expected)) && given !== null;
}

function requestToken(req: IncomingMessage): string | null {
  const header = req.headers.authorization;
  if (header?.startsWith('Bearer ')) return header.slice('Bearer '.length).trim();
  return new URL(req.url ?? '/', 'http://localhost').searchParams.get('token');
}

const here = (name: string) => new URL(name, import.meta.url);

function chartBundle(): Buffer {
  // chart.js exports no subpath for its UMD build: find it beside the package's main file.
  const main = createRequire(import.meta.url).resolve('chart.js');
  return readFileSync(path.join(path.dirname(main), 'chart.umd.js'));
}

/** Alerts are logged once per process and version, not on every page refresh. */
const warned = new Set<number>();

export function dashboardRoutes(database: Database, config: Pick<Config, 'DASHBOARD_TOKEN'>, options: DashboardOptions = DEFAULT_DASHBOARD_OPTIONS): Route[] {
  const page = readFileSync(here('dashboard.html'));
  const script = readFileSync(here('dashboard.js'));
  const style = readFileSync(here('dashboard.css'));
  const chart = chartBundle();
  const authorize = (req: IncomingMessage) => {
    if (config.DASHBOARD_TOKEN && !tokenMatches(requestToken(req), config.DASHBOARD_TOKEN)) {
      throw new HttpError(401, 'the dashboard needs its token: open /dashboard?token=<DASHBOARD_TOKEN> or send "Authorization: Bearer <DASHBOARD_TOKEN>"');
    }
  };
  return [
    {
      method: 'GET',
      path: '/dashboard',
      handler(req, res) {
        authorize(req);
        sendText(res, 200, 'text/html; charset=utf-8', page);
      },
    },
    {
      method: 'GET',
      path: '/api/dashboard',
      async handler(req, res) {
        authorize(req);
        const data = await dashboardData(database.db, options);
        for (const a of data.alerts) {
          if (warned.has(a.versionId)) continue;
          warned.add(a.versionId);
          log.warn('policy version loses clearly to its parent', {
            version: a.versionId,
            parent: a.parentId,
            winRate: a.winRate,
            high: a.high,
            status: a.status,
            ...(a.command ? { fix: a.command } : {}),
          });
        }
        sendJson(res, 200, data);
      },
    },
    { method: 'GET', path: '/static/dashboard.js', handler: (_req, res) => sendText(res, 200, 'text/javascript; charset=utf-8', script) },
    { method: 'GET', path: '/static/dashboard.css', handler: (_req, res) => sendText(res, 200, 'text/css; charset=utf-8', style) },
    { method: 'GET', path: '/static/chart.umd.js', handler: (_req, res) => sendText(res, 200, 'text/javascript; charset=utf-8', chart) },
  ];
}
