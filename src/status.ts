// `pairwise status`: is the database reachable, which version is live, how did the last learner
// run end, and how many votes wait for the next one. Exit code 1 when the database is unreachable.
import type { Config } from './config.ts';
import { DatabaseError, openConfiguredDatabase, type Database } from './db/client.ts';
import { lastRun, listPolicyVersions } from './db/queries.ts';
import { describeRun, evaluationComparisons, liveVotesSinceRun } from './db/reports.ts';
import { parentMatches, ROLLBACK_COMMAND, type ParentMatch } from './learn/ratings.ts';
import { log, redact } from './log.ts';

export interface StatusReport {
  /** With --json an unreachable database prints { database: { ok: false, error } } alone. */
  database: { ok: true; driver: Database['driver']; where: string };
  live: { id: number; kind: string; parentId: number | null; publishedAt: string | null } | null;
  lastRun: { id: number; status: string; stage: string; startedAt: string; finishedAt: string | null; outcome: string } | null;
  /** Live votes cast or changed since the last run started (all live votes before any run). */
  votesSinceLastRun: number;
  /** Versions whose win rate against their parent is clearly below one half. */
  alerts: (ParentMatch & { status: string; command: string | null })[];
}

export async function statusReport(database: Database): Promise<StatusReport> {
  const db = database.db;
  const versions = await listPolicyVersions(db);
  const live = versions.find((v) => v.status === 'live');
  const run = await lastRun(db);
  const matches = parentMatches(await evaluationComparisons(db), new Map(versions.map((v) => [v.id, v.parentId])));
  return {
    database: { ok: true, driver: database.driver, where: database.where },
    live: live ? { id: live.id, kind: live.kind, parentId: live.parentId, publishedAt: live.publishedAt?.toISOString() ?? null } : null,
    lastRun: run
      ? {
          id: run.id,
          status: run.status,
          stage: run.stage,
          startedAt: run.startedAt.toISOString(),
          finishedAt: run.finishedAt?.toISOString() ?? null,
          outcome: describeRun(run),
        }
      : null,
    votesSinceLastRun: await liveVotesSinceRun(db, run?.id),
    alerts: matches
      .filter((m) => m.alert)
      .map((m) => {
        const status = versions.find((v) => v.id === m.versionId)?.status ?? 'unknown';
        return { ...m, status, command: status === 'live' ? ROLLBACK_COMMAND : null };
      }),
  };
}

function ago(iso: string, now: Date): string {
  const minutes = Math.round((now.getTime() - Date.parse(iso)) / 60_000);
  if (minutes < 1) return 'just now';
  if (minutes < 120) return `${minutes} min ago`;
  if (minutes < 48 * 60) return `${Math.round(minutes / 60)} h ago`;
  return `${Math.round(minutes / 1440)} days ago`;
}

const when = (iso: string, now: Date) => `${iso.slice(0, 16).replace('T', ' ')} UTC (${ago(iso, now)})`;
const pct = (x: number) => `${Math.round(100 * x)}%`;

/** The human summary: one line per subject. */
export function formatStatus(report: StatusReport, now = new Date()): string {
  const lines = [`database   ok: ${report.database.driver} at ${report.database.where}`];
  const live = report.live;
  lines.push(
    live
      ? `live       v${live.id} (${live.kind}${live.parentId === null ? '' : `, parent v${live.parentId}`})${live.publishedAt ? `, published ${when(live.publishedAt, now)}` : ''}`
      : 'live       none: run `pairwise bootstrap` to train the first policy',
  );
  const run = report.lastRun;
  lines.push(run ? `last run   #${run.id} ${run.outcome}; started ${when(run.startedAt, now)}` : 'last run   none yet');
  lines.push(`votes      ${report.votesSinceLastRun} since ${run ? 'the last run started' : 'the start'}`);
  for (const a of report.alerts) {
    const fix = a.command ? `roll back with \`${a.command}\`` : `it is ${a.status}, nothing to roll back`;
    lines.push(`ALERT      v${a.versionId} wins ${pct(a.winRate)} (95% CI ${pct(a.low)}–${pct(a.high)}, ${a.games} games) against its parent v${a.parentId}: ${fix}`);
  }
  return lines.join('\n');
}

export async function statusCommand(config: Pick<Config, 'DATABASE_URL' | 'PAIRWISE_DATA_DIR'>, json: boolean): Promise<number> {
  let database: Database;
  try {
    database = await openConfiguredDatabase(config, 2);
  } catch (err) {
    if (!(err instanceof DatabaseError)) throw err;
    const error = redact(err.message);
    if (json) console.log(JSON.stringify({ database: { ok: false, error } }));
    else console.error(`pairwise status: ${error}`);
    return 1;
  }
  try {
    const report = await statusReport(database);
    for (const a of report.alerts) {
      log.warn('policy version loses clearly to its parent', { version: a.versionId, parent: a.parentId, winRate: a.winRate, high: a.high, ...(a.command ? { fix: a.command } : {}) });
    }
    console.log(json ? JSON.stringify(report, null, 2) : formatStatus(report));
    return 0;
  } finally {
    await database.close();
  }
}
