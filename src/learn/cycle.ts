// One learner cycle: votes -> reward model -> PPO (or DPO) -> gate -> publish. Only one cycle runs
// at a time across every machine (a Postgres advisory lock); each writes a learner_runs record
// whose `stage` says how far it got, so a killed run is visible and the next one recovers.
import type { Database } from '../db/client.ts';
import * as q from '../db/queries.ts';
import type { ContextTurn, PolicyVersion, RunStatus } from '../db/schema.ts';
import { log } from '../log.ts';
import type { Progress } from '../progress.ts';
import { metrics as prom } from '../metrics.ts';
import { mulberry32 } from '../model/prng.ts';
import { loadLatestRewardModel, loadPolicy, savePolicy, saveRewardModel, type Bundle } from '../model/store.ts';
import { RewardModel, type GPT } from '../model/transformer.ts';
import { initBackend } from '../model/backend.ts';
import { loadCorpus } from './corpus.ts';
import { type LearnerConfig } from './config.ts';
import { trainDpo } from './dpo.ts';
import { evaluatePolicy, gateDecision } from './evaluate.ts';
import { ModelPool, trainWorkerCount } from './parallel.ts';
import { trainPpo } from './ppo.ts';
import { trainRewardModel } from './reward.ts';
import { reviewChallenger, reviewLiveAgainstParent, type RolloutRule } from './staged-rollout.ts';

/** Advisory-lock key of the learner: one cycle at a time across all processes. */
export const LEARNER_LOCK = 7_100_002;

export interface CycleSettings {
  learner: LearnerConfig;
  /** A cycle with fewer new preference pairs than this is skipped. */
  minNewPairs: number;
  /** Only each person's newest N votes since the last run count (one eager voter cannot steer a cycle). */
  maxVotesPerUser?: number;
  /** Where rollout prompts come from when the database has few. */
  corpusPath: string;
  /** Gate pass -> challenger (staged rollout) instead of live at once. */
  stagedRollout: boolean;
  /** When a running rollout's challenger is promoted or retired; reviewed at the start of each cycle. */
  rolloutRule: RolloutRule;
  /** Roll back on its own when the live version loses clearly to its parent in evaluation votes. */
  autoRollback: boolean;
  /** The policy PPO's KL penalty keeps close to; default the first bootstrap version. */
  referenceVersion?: number;
  seed?: number;
  /** Threads training and sampling (see parallel.ts); default TRAIN_WORKERS, else one per core. */
  workers?: number;
  /** Reports each training phase's progress (a terminal bar for `learn --once`). */
  progress?: (phase: string) => Progress;
}

export interface CycleResult {
  runId: number | null;
  status: RunStatus | 'locked';
  reason?: string;
  policyVersionId?: number;
  rewardModelId?: number;
  counts: Record<string, number>;
  metrics: Record<string, unknown>;
}

export interface TrainingPair {
  promptKey: string;
  context: ContextTurn[];
  chosen: string;
  rejected: string;
}

/** Runs one cycle if no other learner is running one; otherwise returns status 'locked'. */
export async function runLearnerCycle(database: Database, settings: CycleSettings): Promise<CycleResult> {
  const held = await database.withLock(LEARNER_LOCK, () => cycle(database, settings));
  if (!held) return { runId: null, status: 'locked', reason: 'another learner is running a cycle', counts: {}, metrics: {} };
  return held.value;
}

async function cycle(database: Database, settings: CycleSettings): Promise<CycleResult> {
  const db = database.db;
  const abandoned = await q.failAbandonedRuns(db);
  if (abandoned) log.warn('marked runs of a learner that died as failed', { runs: abandoned });
  const runId = await q.startRun(db);
  const started = Date.now();
  const seed = settings.seed ?? Date.now() % 2 ** 31;
  const counts: Record<string, number> = {};
  const metrics: Record<string, unknown> = {};
  const owned: { dispose(): void }[] = [];
  let pool: ModelPool | undefined;
  const stage = (name: string) => q.updateRun(db, runId, { stage: name, counts, metrics });
  const finish = async (status: RunStatus, extra: Partial<CycleResult> = {}): Promise<CycleResult> => {
    metrics.durationS = Math.round((Date.now() - started) / 100) / 10;
    await q.finishRun(db, runId, status, { counts, metrics, error: extra.reason ?? null, policyVersionId: extra.policyVersionId, rewardModelId: extra.rewardModelId });
    prom.learnerRuns.inc({ outcome: status });
    prom.learnerRunSeconds.observe({ outcome: status }, (Date.now() - started) / 1000);
    log.info('learner cycle finished', { run: runId, status, reason: extra.reason, ...counts });
    return { runId, status, counts, metrics, ...extra };
  };

  try {
    // 0. Live votes decide first, whatever else this cycle does: a running staged rollout, and
    // whether the live version loses clearly to its parent.
    const review = await reviewChallenger(database, settings.rolloutRule);
    if (review) metrics.rollout = { challenger: review.challengerId, action: review.action, reason: review.reason };
    const alarm = await reviewLiveAgainstParent(database, settings.autoRollback);
    if (alarm) metrics.liveLosesToParent = { live: alarm.liveId, parent: alarm.parentId, winRate: alarm.record.winRate, rolledBack: alarm.rolledBack };

    // 1. Data: the new pairs since the last decided run, plus a bounded replay sample of older ones.
    const cfg = settings.learner;
    const lastDecided = await q.lastDecidedRun(db);
    const since = lastDecided?.startedAt;
    const fresh = await q.preferencePairs(db, { since, maxVotesPerUser: settings.maxVotesPerUser });
    const freshImported = await q.importedPairsSince(db, { since, limit: cfg.maxPairsPerCycle });
    counts.newPairs = fresh.pairs.length + freshImported.length;
    counts.ties = fresh.ties;
    counts.bothBad = fresh.bothBad;
    if (counts.newPairs < settings.minNewPairs) {
      return finish('skipped', { reason: `${counts.newPairs} new preference pairs, fewer than the ${settings.minNewPairs} a cycle needs` });
    }
    const pairs = await trainingPairs(database, fresh, freshImported, cfg.maxPairsPerCycle, since, seed);
    counts.pairs = pairs.length;

    const live = await q.livePolicy(db);
    if (!live) throw new Error('no live policy to improve: run `pairwise bootstrap` first');
    const current = await loadPolicy(db, live);
    owned.push(current.model);
    const { tokenizer } = current;

    // 2. The models this cycle works with, and workers holding copies of them (all cores).
    const previousRm = cfg.rmWarmStart ? await loadLatestRewardModel(db) : undefined;
    const rm = previousRm?.model ?? RewardModel.fromPolicy(current.model);
    owned.push(rm);
    const reference = await loadReference(database, settings.referenceVersion, live);
    owned.push(reference.model);
    const candidate = current.model.clone();
    owned.push(candidate);
    const backend = await initBackend();
    const workers = settings.workers ?? trainWorkerCount(backend);
    counts.workers = workers;
    if (workers > 1) {
      try {
        pool = await ModelPool.start({ policy: candidate, live: current.model, reference: reference.model, reward: rm }, workers, backend);
      } catch (err) {
        // The same results, only slower: one thread still learns.
        log.warn('training workers did not start; this cycle trains in one thread', { workers, err });
        counts.workers = 1;
      }
    }

    // 3. Reward model, warm-started from the previous one (or the live policy's trunk).
    await stage('reward');
    const rmResult = await withProgress(settings, 'reward', (onProgress) => trainRewardModel(rm, tokenizer, pairs, cfg, { seed, onProgress, pool }));
    Object.assign(metrics, { rmAccuracy: rmResult.heldOutAccuracy, rmLoss: rmResult.heldOutLoss, rmTrainLoss: rmResult.trainLoss });
    counts.heldOut = rmResult.heldOutPairs;
    await stage('reward-save');
    const rewardModelId = await saveRewardModel(db, { model: rm, tokenizer }, previousRm?.id ?? null, {
      accuracy: rmResult.heldOutAccuracy,
      loss: rmResult.heldOutLoss,
      normaliser: rmResult.normaliser,
      pairs: pairs.length,
    });
    await q.updateRun(db, runId, { rewardModelId });

    // 4. Policy improvement against the reward model, kept close to the reference policy.
    const prompts = await rolloutPrompts(database, settings.corpusPath, cfg.rolloutPrompts + cfg.gateHeldOutPrompts, seed);
    const gatePrompts = prompts.slice(0, cfg.gateHeldOutPrompts);
    const trainPrompts = prompts.slice(cfg.gateHeldOutPrompts);
    await stage(cfg.algorithm);
    if (cfg.algorithm === 'dpo') {
      Object.assign(metrics, await withProgress(settings, 'dpo', (onProgress) => trainDpo(candidate, reference.model, tokenizer, pairs, cfg, { seed, onProgress, pool })));
    } else {
      const ppo = await withProgress(settings, 'ppo', (report) =>
        trainPpo(candidate, reference.model, rm, tokenizer, trainPrompts, rmResult.normaliser, cfg, { seed, pool, onProgress: (it, of, stats) => report(it, of, stats.policyLoss) }),
      );
      Object.assign(metrics, ppo);
    }

    // 5. Gate: the candidate against the live policy on held-out prompts.
    await stage('gate');
    const evalArgs = [reference.model, rm, tokenizer, gatePrompts, rmResult.normaliser, cfg, seed + 1, pool] as const;
    const liveEval = await evaluatePolicy(current.model, ...evalArgs);
    const candEval = await evaluatePolicy(candidate, ...evalArgs);
    const decision = gateDecision(candEval, liveEval, cfg);
    metrics.gate = { candidate: candEval, live: liveEval, pass: decision.pass, reason: decision.reason };
    metrics.meanRewardBefore = liveEval.meanReward;
    metrics.meanRewardAfter = candEval.meanReward;
    metrics.kl = candEval.kl;

    // 6. Publish: checkpoint, status flip and NOTIFY in one transaction, or store it as rejected.
    await stage('publish');
    const status = !decision.pass ? 'rejected' : settings.stagedRollout ? 'challenger' : 'candidate';
    const version = await db.transaction(async (tx) => {
      const row = await savePolicy(tx, { model: candidate, tokenizer }, {
        parentId: live.id,
        kind: cfg.algorithm,
        status,
        metrics: { ...metrics, rewardModelId },
        reason: decision.pass ? undefined : decision.reason,
      });
      if (status === 'candidate') await q.makeLiveIn(tx, row.id);
      if (status === 'challenger') await q.startRollout(tx, row.id);
      return row;
    });
    if (!decision.pass) return finish('rejected', { reason: decision.reason, policyVersionId: version.id, rewardModelId });
    return finish('succeeded', { policyVersionId: version.id, rewardModelId });
  } catch (err) {
    log.error('learner cycle failed', { run: runId, err });
    return finish('failed', { reason: (err as Error).message });
  } finally {
    await pool?.close();
    for (const m of owned) m.dispose();
  }
}

async function withProgress<T>(settings: CycleSettings, phase: string, run: (onProgress: (done: number, total: number, loss?: number) => void) => Promise<T>): Promise<T> {
  const bar = settings.progress?.(phase);
  try {
    return await run((done, total, loss) => bar?.update(done, total, loss));
  } finally {
    bar?.stop();
  }
}

/** New pairs first, then older ones sampled at random up to `cap`: a cycle's cost follows the new pairs, not the history. */
async function trainingPairs(
  database: Database,
  fresh: q.PreferenceSet,
  freshImported: { id: number; context: ContextTurn[]; chosen: string; rejected: string }[],
  cap: number,
  since: Date | undefined,
  seed: number,
): Promise<TrainingPair[]> {
  const fromVotes = (p: q.PreferencePair): TrainingPair => ({ promptKey: p.promptId, context: p.context, chosen: p.chosen.text, rejected: p.rejected.text });
  const fromImport = (p: { id: number; context: ContextTurn[]; chosen: string; rejected: string }): TrainingPair => ({
    promptKey: `import:${p.id}`,
    context: p.context,
    chosen: p.chosen,
    rejected: p.rejected,
  });
  const out = [...fresh.pairs.map(fromVotes), ...freshImported.map(fromImport)].slice(0, cap);
  if (out.length >= cap) return out;
  const seen = new Set(out.map((p) => p.promptKey));
  // The database draws the replay sample, so only `cap` older pairs ever reach this process.
  const older = [
    ...(since ? (await q.samplePreferencePairs(database.db, { count: cap - out.length, before: since })).map(fromVotes) : []),
    ...(await q.importedPairsSince(database.db, { limit: cap - out.length })).map(fromImport),
  ].filter((p) => !seen.has(p.promptKey));
  shuffle(older, mulberry32(seed));
  return out.concat(older.slice(0, cap - out.length));
}

async function loadReference(database: Database, versionId: number | undefined, live: PolicyVersion): Promise<Bundle<GPT>> {
  const versions = await q.listPolicyVersions(database.db);
  const chosen = versionId !== undefined ? versions.find((v) => v.id === versionId) : versions.find((v) => v.kind === 'sft' || v.kind === 'imported');
  if (versionId !== undefined && !chosen) throw new Error(`reference policy version ${versionId} does not exist`);
  return loadPolicy(database.db, chosen ?? live);
}

/** Rollout prompts: recent real contexts, topped up with corpus openings when the database has few. */
async function rolloutPrompts(database: Database, corpusPath: string, count: number, seed: number): Promise<ContextTurn[][]> {
  const rand = mulberry32(seed);
  const real = await q.recentContexts(database.db, count * 4);
  shuffle(real, rand);
  const out = real.slice(0, count);
  if (out.length < count) {
    const openings = loadCorpus(corpusPath).map((turns) => turns.slice(0, 1));
    shuffle(openings, rand);
    out.push(...openings.slice(0, count - out.length));
  }
  shuffle(out, rand);
  return out;
}

function shuffle<T>(items: T[], rand: () => number): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [items[i], items[j]] = [items[j], items[i]];
  }
}
