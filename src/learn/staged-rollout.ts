// Staged rollout: a policy that passes the gate becomes the challenger and answers a share of
// prompts beside the live policy (one candidate each). Real votes then decide: it is promoted once
// enough decided votes put the lower bound of its win rate above a floor, retired once its whole
// interval lies below even odds, and waits otherwise.
import type { Database } from '../db/client.ts';
import * as q from '../db/queries.ts';
import { evaluationComparisons } from '../db/reports.ts';
import { log } from '../log.ts';
import { headToHead, ROLLBACK_COMMAND, type HeadToHead } from './ratings.ts';

export interface RolloutRule {
  /** Decided votes (A or B; ties count half to each) needed before any decision. */
  minVotes: number;
  /** Promote once the lower bound of the challenger's 95% win-rate interval is above this. */
  floor: number;
}

export interface RolloutDecision {
  action: 'promote' | 'retire' | 'wait';
  record: HeadToHead;
  reason: string;
}

export function rolloutDecision(record: HeadToHead, rule: RolloutRule): RolloutDecision {
  const figures = `${record.wins}/${record.games} wins, 95% interval ${record.low.toFixed(2)}–${record.high.toFixed(2)}`;
  if (record.games < rule.minVotes) return { action: 'wait', record, reason: `${record.games} of ${rule.minVotes} votes needed (${figures})` };
  if (record.low > rule.floor) return { action: 'promote', record, reason: `not worse than live: ${figures}, lower bound above ${rule.floor}` };
  if (record.high < 0.5) return { action: 'retire', record, reason: `clearly worse than live: ${figures}` };
  return { action: 'wait', record, reason: `undecided: ${figures}` };
}

/** The challenger's live record against the live policy, or null when no rollout is running. */
export async function challengerStanding(database: Database): Promise<{ challengerId: number; liveId: number; record: HeadToHead } | null> {
  const [challenger, live] = await Promise.all([q.challengerPolicy(database.db), q.livePolicy(database.db)]);
  if (!challenger || !live) return null;
  const record = headToHead(await evaluationComparisons(database.db), challenger.id, live.id);
  return { challengerId: challenger.id, liveId: live.id, record };
}

/** Applies the rule to the running rollout, if any: promotes or retires the challenger. */
export async function reviewChallenger(database: Database, rule: RolloutRule): Promise<(RolloutDecision & { challengerId: number }) | null> {
  const standing = await challengerStanding(database);
  if (!standing) return null;
  const decision = rolloutDecision(standing.record, rule);
  if (decision.action === 'promote') await q.makeLive(database.db, standing.challengerId, 'retired', `replaced by challenger ${standing.challengerId}`);
  if (decision.action === 'retire') await q.setPolicyStatus(database.db, standing.challengerId, 'retired', decision.reason);
  if (decision.action !== 'wait') log.info(`challenger ${decision.action === 'promote' ? 'promoted' : 'retired'}`, { version: standing.challengerId, reason: decision.reason });
  return { ...decision, challengerId: standing.challengerId };
}

/**
 * Online evaluation's alarm: when the live version's whole 95% win-rate interval against its
 * parent (from evaluation votes) lies below even odds, say so in the log, and with `autoRollback`
 * put the parent back.
 */
export async function reviewLiveAgainstParent(database: Database, autoRollback: boolean): Promise<{ liveId: number; parentId: number; record: HeadToHead; rolledBack: boolean } | null> {
  const live = await q.livePolicy(database.db);
  if (!live?.parentId) return null;
  const record = headToHead(await evaluationComparisons(database.db), live.id, live.parentId);
  if (record.games === 0 || record.high >= 0.5) return null;
  const figures = `${record.wins}/${record.games} wins, 95% interval ${record.low.toFixed(2)}–${record.high.toFixed(2)}`;
  if (!autoRollback) {
    log.warn(`live policy ${live.id} loses clearly to its parent ${live.parentId} in live votes (${figures}): run \`${ROLLBACK_COMMAND}\``);
    return { liveId: live.id, parentId: live.parentId, record, rolledBack: false };
  }
  await q.makeLive(database.db, live.parentId, 'retired', `rolled back automatically: lost to its parent (${figures})`);
  log.warn(`rolled back automatically from policy ${live.id} to its parent ${live.parentId} (${figures})`);
  return { liveId: live.id, parentId: live.parentId, record, rolledBack: true };
}
