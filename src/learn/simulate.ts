// `pairwise simulate`: the whole loop without a chat platform, to prove the bot learns. Simulated
// users send corpus user turns through the real ChatService and LivePolicy and vote by a hidden
// rule (with some noise); the real learner cycle runs between rounds. Each round measures how
// often the rule prefers a fresh live reply over a bootstrap reply on held-out prompts.
import type { Config } from '../config.ts';
import { ConfigError } from '../config.ts';
import { ChatService } from '../chat/service.ts';
import type { ChatUser, VoteChoice } from '../chat/types.ts';
import { openDatabase, type Database } from '../db/client.ts';
import * as q from '../db/queries.ts';
import { log } from '../log.ts';
import { initBackend } from '../model/backend.ts';
import { LivePolicy } from '../model/live-policy.ts';
import { mulberry32 } from '../model/prng.ts';
import { ContentFilter } from '../safety/filter.ts';
import { loadLatestRewardModel, loadPolicy, savePolicy, type Bundle } from '../model/store.ts';
import type { Tokenizer, Turn } from '../model/tokenizer.ts';
import type { GPT, ModelSize } from '../model/transformer.ts';
import { ensureLivePolicy } from './bootstrap.ts';
import { learnerConfig, type LearnerConfig } from './config.ts';
import { loadCorpus } from './corpus.ts';
import { runLearnerCycle } from './cycle.ts';
import { scoreReplies, shuffled } from './reward.ts';
import { sampleReplies } from './rollouts.ts';

// ---------------------------------------------------------------------------------------------
// The hidden voting rules.

export type RuleName = 'shorter' | 'words' | 'question';

export interface VoteRule {
  name: RuleName;
  /** What the rule measures on one reply (the per-round "rule" columns). */
  measure: (text: string) => number;
  /** Whether a higher measure is preferred. */
  higherIsBetter: boolean;
  describe: string;
}

/** Friendly words the `words` rule looks for (about 20% of the corpus's bot replies hold one). */
export const FRIENDLY_WORDS = ['great', 'glad', 'happy', 'love', 'nice', 'fun', 'enjoy', 'wonderful', 'awesome', 'lovely'];
const FRIENDLY = new RegExp(`\\b(${FRIENDLY_WORDS.join('|')})\\b`, 'i');

export const RULES: Record<RuleName, VoteRule> = {
  shorter: { name: 'shorter', measure: (t) => t.trim().length, higherIsBetter: false, describe: 'prefers the shorter reply (characters)' },
  words: { name: 'words', measure: (t) => (FRIENDLY.test(t) ? 1 : 0), higherIsBetter: true, describe: `prefers a reply with one of: ${FRIENDLY_WORDS.join(', ')}` },
  question: { name: 'question', measure: (t) => (t.trim().endsWith('?') ? 1 : 0), higherIsBetter: true, describe: 'prefers a reply that ends with a question mark' },
};

/** +1 when the rule prefers a, −1 when it prefers b, 0 for a tie. */
export function ruleCompare(rule: VoteRule, a: string, b: string): number {
  const d = rule.measure(a) - rule.measure(b);
  return d === 0 ? 0 : (d > 0) === rule.higherIsBetter ? 1 : -1;
}

/**
 * The simulated voter: the rule's verdict, except that with probability `noise` it errs (a
 * decisive vote is flipped, a tie becomes a random A or B).
 */
export function simulatedVote(rule: VoteRule, a: string, b: string, noise: number, rand: () => number): VoteChoice {
  const verdict = ruleCompare(rule, a, b);
  if (rand() < noise) return verdict === 0 ? (rand() < 0.5 ? 'a' : 'b') : verdict > 0 ? 'b' : 'a';
  return verdict > 0 ? 'a' : verdict < 0 ? 'b' : 'tie';
}

// ---------------------------------------------------------------------------------------------
// The simulation.

export interface SimulationOptions {
  rule: RuleName;
  /** Votes cast in all, spread evenly over the rounds. */
  votes: number;
  rounds: number;
  /** Probability that a voter errs. */
  noise: number;
  seed: number;
  /** Held-out prompts (never sent by the simulated users) for the win rate and the reward model's accuracy. */
  evalPrompts: number;
  corpusPath: string;
  modelSize: ModelSize;
  /** Sampling of the live policy, as the bot serves it. */
  sampling: { temperature: number; topP: number; maxNewTokens: number };
  /** A PostgreSQL URL; the default is a fresh in-memory PGlite. */
  databaseUrl?: string;
  /** The first policy; default the shipped checkpoint or a bootstrap on the corpus (ensureLivePolicy). */
  policy?: Bundle<GPT>;
  learner?: Partial<LearnerConfig>;
  onRound?: (record: RoundRecord) => void;
}

export interface RoundRecord {
  round: number;
  /** Votes cast so far (ties and noisy ones included). */
  votes: number;
  /** Preference pairs so far (prompts with a decisive majority). */
  pairs: number;
  /** How often the rule prefers a live reply over a bootstrap reply to the same held-out prompt (ties half). */
  winRate: number;
  /**
   * The same over the comparisons the rule decides (ties left out); null when it decides none. With
   * a yes/no rule that the bootstrap already meets at rate p, winRate cannot exceed 1 − p/2.
   */
  decisiveWinRate: number | null;
  /** Mean of the rule's measure over live and over bootstrap replies (share with the property, or characters for `shorter`). */
  liveMeasure: number;
  bootstrapMeasure: number;
  /** The newest reward model's agreement with the rule on held-out replies it decides; null before the first. */
  rmRuleAccuracy: number | null;
  /** The cycle's own held-out accuracy against the (noisy) votes. */
  rmVoteAccuracy: number | null;
  /** Mean KL of the live policy to the reference per reply (nats), as the gate measured it. */
  kl: number | null;
  /** The round's learner cycle outcome: succeeded, rejected, skipped or failed. */
  cycle: string | null;
  reason: string | null;
  liveVersion: number;
  cycleSeconds: number | null;
  /** CPU seconds the process spent in the cycle: its wall time on an otherwise idle core (the work is single-threaded). */
  cycleCpuSeconds: number | null;
  roundSeconds: number;
  /** The learner run's own metrics (reward model, PPO or DPO, gate), for --json. */
  learner: Record<string, unknown> | null;
  /** A few held-out prompts with a live and a bootstrap reply, to read what changed. */
  examples: { prompt: string; live: string; bootstrap: string }[];
}

const EXAMPLES = 4;

export const SIMULATION_DEFAULTS = {
  rule: 'shorter' as RuleName,
  votes: 1000,
  rounds: 5,
  noise: 0.1,
  seed: 1,
  evalPrompts: 64,
};

const SIM_USERS = 20;

/** Corpus user turns as one-turn prompts, distinct, in a seeded order. */
function corpusPrompts(corpusPath: string, seed: number): Turn[][] {
  const texts = [...new Set(loadCorpus(corpusPath).flatMap((d) => d.filter((t) => t.role === 'user').map((t) => t.text.trim())))];
  return shuffled(texts.length, mulberry32(seed)).map((i) => [{ role: 'user' as const, text: texts[i]! }]);
}

async function publishFirstPolicy(database: Database, bundle: Bundle<GPT>): Promise<void> {
  await database.db.transaction(async (tx) => {
    const row = await savePolicy(tx, bundle, { parentId: null, kind: 'sft', status: 'candidate', metrics: { source: 'simulation' } });
    await q.makeLiveIn(tx, row.id);
  });
}

/** Simulated users: each sends a random user prompt through the service and votes on its two replies. */
class Voters {
  votes = 0;
  private messages = 0;
  private readonly users: ChatUser[] = Array.from({ length: SIM_USERS }, (_, i) => ({ platform: 'web', externalId: `sim-${i + 1}`, isBot: false }));

  constructor(
    private readonly service: ChatService,
    private readonly rule: VoteRule,
    private readonly prompts: Turn[][],
    private readonly noise: number,
    private readonly rand: () => number,
  ) {}

  async voteUntil(total: number): Promise<void> {
    while (this.votes < total) {
      const user = this.users[this.messages % SIM_USERS]!;
      const text = this.prompts[Math.floor(this.rand() * this.prompts.length)]![0]!.text;
      this.messages++;
      // A thread per message keeps each prompt a single user turn, like the held-out ones.
      const reply = await this.service.handleMessage({ user, channelId: `sim-${user.externalId}`, threadId: `m${this.messages}`, eventId: `sim-${this.messages}`, text });
      if (reply.kind !== 'candidates') continue; // a corpus line that reads as a command ("help")
      const choice = simulatedVote(this.rule, reply.candidates[0].text, reply.candidates[1].text, this.noise, this.rand);
      const outcome = await this.service.handleReaction({ user, target: { promptId: reply.promptId }, choice, action: 'add' });
      if (outcome.kind !== 'stored') throw new Error(`simulated vote not stored: ${outcome.kind === 'ignored' ? outcome.reason : outcome.kind}`);
      this.votes++;
    }
  }
}

type CycleOutcome = Awaited<ReturnType<typeof runLearnerCycle>>;

/** Two replies per prompt as the bot would show them: replies 2i and 2i+1 answer prompt i. */
async function twoReplies(model: GPT, tokenizer: Tokenizer, prompts: Turn[][], sampling: SimulationOptions['sampling'], seed: number): Promise<string[]> {
  return (await sampleReplies(model, tokenizer, prompts, { numSamples: 2, ...sampling, seed })).map((r) => r.text);
}

/** Compares the live policy with the bootstrap on the held-out prompts, by the rule. */
class Judge {
  /** The live version as last measured, when it is not the bootstrap. */
  private measured: { id: number; model: GPT } | undefined;

  private constructor(
    private readonly database: Database,
    private readonly rule: VoteRule,
    private readonly boot: { id: number } & Bundle<GPT>,
    private readonly prompts: Turn[][],
    private readonly sampling: SimulationOptions['sampling'],
    private readonly maxReplyTokens: number,
    /** The bootstrap's replies, drawn once: every round compares with the same ones. */
    private readonly bootReplies: string[],
  ) {}

  static async create(database: Database, rule: VoteRule, boot: { id: number } & Bundle<GPT>, prompts: Turn[][], opts: SimulationOptions, maxReplyTokens: number): Promise<Judge> {
    const bootReplies = await twoReplies(boot.model, boot.tokenizer, prompts, opts.sampling, opts.seed + 11);
    return new Judge(database, rule, boot, prompts, opts.sampling, maxReplyTokens, bootReplies);
  }

  private async liveModel(): Promise<{ id: number; model: GPT }> {
    const row = (await q.livePolicy(this.database.db))!;
    if (row.id === this.boot.id) return { id: row.id, model: this.boot.model };
    if (this.measured?.id !== row.id) {
      this.measured?.model.dispose();
      this.measured = { id: row.id, model: (await loadPolicy(this.database.db, row)).model };
    }
    return this.measured;
  }

  async measure(round: number, votes: number, seed: number, cycle?: CycleOutcome & { seconds: number; cpuSeconds: number }): Promise<Omit<RoundRecord, 'roundSeconds'>> {
    const live = await this.liveModel();
    const liveReplies = await twoReplies(live.model, this.boot.tokenizer, this.prompts, this.sampling, seed);
    const verdicts = liveReplies.map((l, i) => ruleCompare(this.rule, l, this.bootReplies[i]!));
    const decided = verdicts.filter((v) => v !== 0);
    const mean = (xs: string[]) => xs.reduce((a, t) => a + this.rule.measure(t), 0) / xs.length;
    const gate = cycle?.metrics.gate as { pass: boolean; live: { kl: number }; candidate: { kl: number } } | undefined;
    return {
      round,
      votes,
      pairs: (await q.preferencePairs(this.database.db)).pairs.length,
      winRate: verdicts.reduce((a, v) => a + (v + 1) / 2, 0) / verdicts.length,
      decisiveWinRate: decided.length ? decided.filter((v) => v > 0).length / decided.length : null,
      liveMeasure: mean(liveReplies),
      bootstrapMeasure: mean(this.bootReplies),
      rmRuleAccuracy: await rewardModelAgreement(this.database, this.rule, this.prompts, liveReplies, this.bootReplies, this.maxReplyTokens),
      rmVoteAccuracy: (cycle?.metrics.rmAccuracy as number | null | undefined) ?? null,
      kl: gate ? (gate.pass ? gate.candidate.kl : gate.live.kl) : round === 0 ? 0 : null,
      cycle: cycle?.status ?? null,
      reason: cycle?.reason ?? null,
      liveVersion: live.id,
      cycleSeconds: cycle?.seconds ?? null,
      cycleCpuSeconds: cycle?.cpuSeconds ?? null,
      learner: cycle ? { counts: cycle.counts, ...cycle.metrics } : null,
      examples: this.prompts.slice(0, EXAMPLES).map((p, i) => ({ prompt: p[0]!.text, live: liveReplies[2 * i]!, bootstrap: this.bootReplies[2 * i]! })),
    };
  }

  dispose(): void {
    this.measured?.model.dispose();
  }
}

/** One learner cycle with its wall and CPU time. */
async function timedCycle(database: Database, cfg: LearnerConfig, opts: SimulationOptions, round: number): Promise<CycleOutcome & { seconds: number; cpuSeconds: number }> {
  const started = Date.now();
  const cpuStarted = process.cpuUsage();
  const result = await runLearnerCycle(database, {
    learner: cfg,
    minNewPairs: 1,
    corpusPath: opts.corpusPath,
    stagedRollout: false,
    rolloutRule: { minVotes: 1, floor: 0 },
    autoRollback: false,
    seed: opts.seed * 7919 + round,
  });
  const cpu = process.cpuUsage(cpuStarted);
  return { ...result, seconds: Math.round((Date.now() - started) / 100) / 10, cpuSeconds: Math.round((cpu.user + cpu.system) / 1e5) / 10 };
}

export async function runSimulation(opts: SimulationOptions): Promise<RoundRecord[]> {
  const rule = RULES[opts.rule];
  if (!rule) throw new ConfigError(`unknown rule "${opts.rule}": use one of ${Object.keys(RULES).join(', ')}`);
  const cfg = learnerConfig(opts.learner);
  const all = corpusPrompts(opts.corpusPath, opts.seed);
  if (all.length < opts.evalPrompts + 10) throw new ConfigError(`the corpus has ${all.length} distinct user turns, too few for ${opts.evalPrompts} held-out prompts`);
  const evalPrompts = all.slice(0, opts.evalPrompts);
  const userPrompts = all.slice(opts.evalPrompts);

  const database = await openDatabase(opts.databaseUrl ? { url: opts.databaseUrl } : { dataDir: 'memory://' });
  let boot: ({ id: number } & Bundle<GPT>) | undefined;
  let judge: Judge | undefined;
  let policy: LivePolicy | undefined;
  try {
    if (opts.policy) await publishFirstPolicy(database, opts.policy);
    else await ensureLivePolicy(database, { MODEL_SIZE: opts.modelSize, CORPUS_PATH: opts.corpusPath });
    const bootRow = (await q.livePolicy(database.db))!;
    boot = { id: bootRow.id, ...(await loadPolicy(database.db, bootRow)) };
    judge = await Judge.create(database, rule, boot, evalPrompts, opts, cfg.rmMaxReplyTokens);

    policy = new LivePolicy(database, { ...opts.sampling, evalShare: 0, challengerShare: 0, pollMs: 3_600_000, filter: new ContentFilter(), random: mulberry32(opts.seed + 1) });
    await policy.start();
    const service = new ChatService(database, policy, {
      maxMessageChars: 2000,
      rateLimitPerMinute: Number.MAX_SAFE_INTEGER,
      contextTurns: 6,
      allowVoteOnOwnPrompt: true,
      admins: new Set(),
      voteRetryMs: 1000,
      random: mulberry32(opts.seed + 2),
    });
    const voters = new Voters(service, rule, userPrompts, opts.noise, mulberry32(opts.seed));

    const records: RoundRecord[] = [];
    const record = (r: Omit<RoundRecord, 'roundSeconds'>, started: number) => {
      records.push({ ...r, roundSeconds: Math.round((Date.now() - started) / 100) / 10 });
      opts.onRound?.(records.at(-1)!);
    };
    record(await judge.measure(0, 0, opts.seed + 1000), Date.now());
    for (let round = 1; round <= opts.rounds; round++) {
      const started = Date.now();
      await voters.voteUntil(Math.round((opts.votes * round) / opts.rounds));
      const cycle = await timedCycle(database, cfg, opts, round);
      await policy.reload();
      record(await judge.measure(round, voters.votes, opts.seed + 1000 * (round + 1), cycle), started);
    }
    return records;
  } finally {
    await policy?.stop();
    judge?.dispose();
    boot?.model.dispose();
    await database.close();
  }
}

/**
 * How often the newest reward model orders two replies to a held-out prompt as the rule does, over
 * every pair the rule decides among the prompt's live and bootstrap replies; null before any.
 */
async function rewardModelAgreement(
  database: Database,
  rule: VoteRule,
  prompts: Turn[][],
  live: string[],
  boot: string[],
  maxReplyTokens: number,
): Promise<number | null> {
  const rm = await loadLatestRewardModel(database.db);
  if (!rm) return null;
  try {
    const perPrompt = prompts.map((_, i) => [live[2 * i]!, live[2 * i + 1]!, boot[2 * i]!, boot[2 * i + 1]!]);
    const items = perPrompt.flatMap((replies, i) => replies.map((reply) => ({ context: prompts[i]!, reply })));
    const scores = await scoreReplies(rm.model, rm.tokenizer, items, { mean: 0, std: 1 }, maxReplyTokens);
    let agree = 0;
    let decided = 0;
    perPrompt.forEach((replies, i) => {
      for (let a = 0; a < 4; a++) {
        for (let b = a + 1; b < 4; b++) {
          const verdict = ruleCompare(rule, replies[a]!, replies[b]!);
          if (verdict === 0) continue;
          decided++;
          if (Math.sign(scores[4 * i + a]! - scores[4 * i + b]!) === verdict) agree++;
        }
      }
    });
    return decided ? agree / decided : null;
  } finally {
    rm.model.dispose();
  }
}

// ---------------------------------------------------------------------------------------------
// The command.

const pct = (x: number | null) => (x === null ? '-' : `${(100 * x).toFixed(1)}%`);

export function formatRound(r: RoundRecord, rule: VoteRule): string {
  const m = (x: number) => (rule.name === 'shorter' ? x.toFixed(1) : pct(x));
  return [
    String(r.round).padStart(5),
    String(r.votes).padStart(6),
    String(r.pairs).padStart(6),
    pct(r.winRate).padStart(8),
    pct(r.decisiveWinRate).padStart(8),
    `${m(r.liveMeasure)} vs ${m(r.bootstrapMeasure)}`.padStart(17),
    pct(r.rmRuleAccuracy).padStart(9),
    pct(r.rmVoteAccuracy).padStart(9),
    (r.kl === null ? '-' : r.kl.toFixed(2)).padStart(6),
    `v${r.liveVersion} ${r.cycle ?? '-'}`.padStart(14),
    (r.cycleSeconds === null ? '-' : `${r.cycleSeconds}s`).padStart(7),
    (r.cycleCpuSeconds === null ? '-' : `${r.cycleCpuSeconds}s`).padStart(7),
  ].join(' ');
}

export function tableHeader(rule: VoteRule): string {
  const what = rule.name === 'shorter' ? 'chars live/boot' : 'rule live/boot';
  return `${'round'.padStart(5)} ${'votes'.padStart(6)} ${'pairs'.padStart(6)} ${'win'.padStart(8)} ${'decisive'.padStart(8)} ${what.padStart(17)} ${'RM(rule)'.padStart(9)} ${'RM(vote)'.padStart(9)} ${'KL'.padStart(6)} ${'live cycle'.padStart(14)} ${'cycle'.padStart(7)} ${'cpu'.padStart(7)}`;
}

function numberOption(values: Record<string, string | boolean | undefined>, name: string, fallback: number, check: (n: number) => boolean, want: string): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (typeof raw !== 'string' || raw.trim() === '' || !check(n)) throw new ConfigError(`--${name} must be ${want}, got "${raw}"`);
  return n;
}

/** `pairwise simulate [--rule shorter|words|question] [--votes N] [--rounds N] [--noise P] [--seed N] [--json]` */
export async function simulateCommand(config: Config, values: Record<string, string | boolean | undefined>): Promise<number> {
  const ruleName = (values.rule ?? SIMULATION_DEFAULTS.rule) as string;
  if (!(ruleName in RULES)) throw new ConfigError(`--rule must be one of ${Object.keys(RULES).join(', ')}, got "${ruleName}"`);
  const rule = RULES[ruleName as RuleName];
  const isInt = (min: number) => (n: number) => Number.isInteger(n) && n >= min;
  const opts: SimulationOptions = {
    rule: rule.name,
    votes: numberOption(values, 'votes', SIMULATION_DEFAULTS.votes, isInt(1), 'a positive integer'),
    rounds: numberOption(values, 'rounds', SIMULATION_DEFAULTS.rounds, isInt(1), 'a positive integer'),
    noise: numberOption(values, 'noise', SIMULATION_DEFAULTS.noise, (n) => n >= 0 && n <= 0.5, 'a probability in [0, 0.5]'),
    seed: numberOption(values, 'seed', SIMULATION_DEFAULTS.seed, isInt(0), 'a non-negative integer'),
    evalPrompts: SIMULATION_DEFAULTS.evalPrompts,
    corpusPath: config.CORPUS_PATH,
    modelSize: config.MODEL_SIZE,
    sampling: { temperature: config.TEMPERATURE, topP: config.TOP_P, maxNewTokens: config.MAX_NEW_TOKENS },
    databaseUrl: config.DATABASE_URL,
    learner: { algorithm: config.LEARNER_ALGORITHM, maxPairsPerCycle: config.LEARNER_MAX_PAIRS },
  };
  if (opts.databaseUrl) log.warn('simulating in the database at DATABASE_URL: use a scratch database, the simulation adds users, votes and policy versions');
  await initBackend(config.PAIRWISE_BACKEND);
  const json = Boolean(values.json);
  if (!json) {
    console.log(`simulating ${opts.votes} votes in ${opts.rounds} rounds; hidden rule: ${rule.describe}; noise ${opts.noise}`);
    console.log(tableHeader(rule));
  }
  const records = await runSimulation({ ...opts, onRound: (r) => !json && console.log(formatRound(r, rule)) });
  if (json) console.log(JSON.stringify({ rule: rule.name, noise: opts.noise, seed: opts.seed, rounds: records }, null, 2));
  return 0;
}
