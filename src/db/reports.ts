// Read-only queries behind the dashboard, `pairwise status` and the version ratings.
import { aliasedTable, and, desc, eq, gt, gte, inArray, isNull, ne, sql } from 'drizzle-orm';
import { comparisonFromVote, type Comparison } from '../learn/ratings.ts';
import type { Tx } from './client.ts';
import { blockedCandidates, candidates, learnerRuns, prompts, votes, type LearnerRun } from './schema.ts';

/** Live votes on evaluation and challenger prompts whose two candidates come from different versions, as comparisons. */
export async function evaluationComparisons(tx: Tx): Promise<Comparison[]> {
  const slotA = aliasedTable(candidates, 'slot_a');
  const slotB = aliasedTable(candidates, 'slot_b');
  const rows = await tx
    .select({ versionA: slotA.policyVersionId, versionB: slotB.policyVersionId, choice: votes.choice })
    .from(votes)
    .innerJoin(prompts, eq(prompts.id, votes.promptId))
    .innerJoin(slotA, and(eq(slotA.promptId, prompts.id), eq(slotA.slot, 'a')))
    .innerJoin(slotB, and(eq(slotB.promptId, prompts.id), eq(slotB.slot, 'b')))
    .where(
      and(
        inArray(prompts.kind, ['eval', 'challenger']),
        isNull(votes.withdrawnAt),
        ne(votes.choice, 'both_bad'),
        ne(slotA.policyVersionId, slotB.policyVersionId),
      ),
    )
    .orderBy(votes.id);
  return rows.map(comparisonFromVote).filter((c): c is Comparison => c !== null);
}

export interface DailyVoteCount {
  /** UTC day, YYYY-MM-DD. */
  day: string;
  platform: string;
  choice: string;
  n: number;
}

/** Live votes cast from `since` on, counted per UTC day, platform and choice. */
export async function dailyVoteCounts(tx: Tx, since: Date): Promise<DailyVoteCount[]> {
  const day = sql<string>`to_char(${votes.createdAt} at time zone 'UTC', 'YYYY-MM-DD')`;
  return tx
    .select({ day, platform: prompts.platform, choice: votes.choice, n: sql<number>`count(*)::int` })
    .from(votes)
    .innerJoin(prompts, eq(prompts.id, votes.promptId))
    .where(and(isNull(votes.withdrawnAt), gte(votes.createdAt, since)))
    .groupBy(day, prompts.platform, votes.choice)
    .orderBy(day);
}

/** Candidates the content filter blocked from `since` on, counted per UTC day. */
export async function blockedPerDay(tx: Tx, since: Date): Promise<{ day: string; n: number }[]> {
  const day = sql<string>`to_char(${blockedCandidates.createdAt} at time zone 'UTC', 'YYYY-MM-DD')`;
  return tx
    .select({ day, n: sql<number>`count(*)::int` })
    .from(blockedCandidates)
    .where(gte(blockedCandidates.createdAt, since))
    .groupBy(day)
    .orderBy(day);
}

/** The most recent learner runs, oldest first. */
export async function recentRuns(tx: Tx, limit: number): Promise<LearnerRun[]> {
  const rows = await tx.select().from(learnerRuns).orderBy(desc(learnerRuns.id)).limit(limit);
  return rows.reverse();
}

/**
 * Live votes cast or changed after run `runId` started (all live votes when absent). The start is
 * compared in the database: a JS Date keeps milliseconds, so a vote in the same millisecond just
 * before the start would count as after it.
 */
export async function liveVotesSinceRun(tx: Tx, runId?: number): Promise<number> {
  const after = runId === undefined ? undefined : gt(votes.updatedAt, sql`(${tx.select({ at: learnerRuns.startedAt }).from(learnerRuns).where(eq(learnerRuns.id, runId))})`);
  const [row] = await tx
    .select({ n: sql<number>`count(*)::int` })
    .from(votes)
    .where(and(isNull(votes.withdrawnAt), after));
  return row.n;
}

/** A run's outcome in a few words: the version it made, why it was rejected or skipped, where it failed. */
export function describeRun(run: LearnerRun): string {
  const gate = run.metrics.gate as { reason?: unknown } | undefined;
  const because = (reason: unknown) => (typeof reason === 'string' && reason ? `: ${reason}` : '');
  switch (run.status) {
    case 'running':
      return `running (stage ${run.stage})`;
    case 'succeeded':
      // Published live, or a challenger under staged rollout: the version's own status says which.
      return run.policyVersionId ? `succeeded: made v${run.policyVersionId}` : 'succeeded';
    case 'rejected':
      return `rejected by the gate${because(gate?.reason ?? run.error)}`;
    case 'skipped':
      return `skipped${because(run.error ?? run.metrics.reason)}`;
    case 'failed':
      return `failed at stage ${run.stage}${because(run.error)}`;
    default:
      return run.status;
  }
}
