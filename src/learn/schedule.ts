// `pairwise learner` (cycles on a cron schedule) and `pairwise learn --once`.
import { Cron } from 'croner';
import type { Config } from '../config.ts';
import { ConfigError } from '../config.ts';
import type { Database } from '../db/client.ts';
import { log } from '../log.ts';
import { progressReporter } from '../progress.ts';
import { learnerConfig } from './config.ts';
import { runLearnerCycle, type CycleResult, type CycleSettings } from './cycle.ts';

export function cycleSettings(config: Config): CycleSettings {
  return {
    learner: learnerConfig({ algorithm: config.LEARNER_ALGORITHM, maxPairsPerCycle: config.LEARNER_MAX_PAIRS }),
    minNewPairs: config.LEARNER_MIN_PAIRS,
    maxVotesPerUser: config.LEARNER_MAX_VOTES_PER_USER,
    corpusPath: config.CORPUS_PATH,
    stagedRollout: config.STAGED_ROLLOUT,
    rolloutRule: { minVotes: config.ROLLOUT_MIN_VOTES, floor: config.ROLLOUT_FLOOR },
    autoRollback: config.AUTO_ROLLBACK,
  };
}

function validCron(expression: string): Cron {
  try {
    return new Cron(expression, { paused: true });
  } catch (err) {
    throw new ConfigError(`LEARNER_CRON "${expression}" is not a cron expression (${(err as Error).message}); use e.g. "*/15 * * * *"`);
  }
}

export interface Schedule {
  stop(): void;
}

/** Runs a learner cycle at each tick of LEARNER_CRON; a tick that finds a cycle still running is skipped. */
export function startLearnerSchedule(database: Database, config: Config): Schedule {
  validCron(config.LEARNER_CRON).stop();
  const settings = cycleSettings(config);
  const job = new Cron(config.LEARNER_CRON, { protect: true, catch: (err) => log.error('learner tick failed', { err }) }, async () => {
    const result = await runLearnerCycle(database, settings);
    if (result.status === 'locked') log.info('learner tick skipped: another learner is running a cycle');
  });
  log.info('learner scheduled', { cron: config.LEARNER_CRON, next: job.nextRun()?.toISOString() });
  return { stop: () => job.stop() };
}

async function openForLearning(config: Config): Promise<Database> {
  const { initBackend } = await import('../model/backend.ts');
  const { openConfiguredDatabase } = await import('../db/client.ts');
  await initBackend(config.PAIRWISE_BACKEND);
  return openConfiguredDatabase(config);
}

export async function runLearnerCommand(config: Config): Promise<number> {
  validCron(config.LEARNER_CRON).stop();
  const database = await openForLearning(config);
  const schedule = startLearnerSchedule(database, config);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  schedule.stop();
  await database.close();
  return 0;
}

export function describeResult(result: CycleResult): string {
  if (result.status === 'locked') return 'skipped: another learner is running a cycle (it holds the learner lock)';
  const head = `learner run #${result.runId} ${result.status}`;
  const detail = result.reason ? `: ${result.reason}` : result.policyVersionId ? `: policy version ${result.policyVersionId}` : '';
  return head + detail;
}

/** Exit code 0 for a cycle that ran (published, rejected by the gate) or skipped cleanly; 1 for a failure. */
export async function learnOnceCommand(config: Config, json: boolean): Promise<number> {
  const database = await openForLearning(config);
  try {
    const result = await runLearnerCycle(database, { ...cycleSettings(config), progress: progressReporter });
    console.log(json ? JSON.stringify(result) : describeResult(result));
    return result.status === 'failed' ? 1 : 0;
  } finally {
    await database.close();
  }
}
