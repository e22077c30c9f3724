// Voters who disagree with everyone else far more than chance: each person's A/B votes are compared
// with the consensus of the other voters on the same prompt (their vote left out), and a one-sided
// binomial test asks whether their disagreement rate is above the rate of all other voters. A spammer
// voting at random, or someone always picking the worse reply, stands out; a person with few votes
// cannot (minVotes), and testing many people at once is corrected for (Bonferroni).
import { and, eq, inArray, isNull, sql } from 'drizzle-orm';
import type { Tx } from '../db/client.ts';
import { users, votes } from '../db/schema.ts';

export interface OutlierConfig {
  /** Fewest A/B votes on prompts where the others agree before a voter is tested at all. */
  minVotes: number;
  /** Chance of flagging anyone when nobody is an outlier: each voter is tested at alpha / voters tested. */
  alpha: number;
}

export const DEFAULT_OUTLIER_CONFIG: OutlierConfig = { minVotes: 20, alpha: 0.01 };

/** One voter's record against the others' consensus. */
export interface VoterAgreement {
  userId: number;
  platform: string;
  externalId: string;
  /** Their live A/B votes on prompts where the other voters' A/B majority is strict. */
  votes: number;
  /** Of those, the ones against that majority. */
  disagreements: number;
}

export interface Outlier extends VoterAgreement {
  rate: number;
  /** The rate of everyone else, which the test compares against. */
  othersRate: number;
  /** P(at least this many disagreements | othersRate), one-sided. */
  pValue: number;
}

export interface OutlierReport {
  /** Disagreements per vote over all tested voters. */
  baseRate: number;
  /** Voters with at least minVotes, each tested. */
  tested: number;
  /** The p-value below which a tested voter is flagged (alpha / tested). */
  threshold: number;
  /** Flagged voters, most significant first. */
  outliers: Outlier[];
}

/** P(X >= k) for X ~ Binomial(n, p), summed in log space so large n neither overflows nor underflows. */
export function binomialTail(n: number, k: number, p: number): number {
  if (k <= 0) return 1;
  if (k > n) return 0;
  if (p <= 0) return 0;
  if (p >= 1) return 1;
  // log pmf(k) = log C(n, k) + k log p + (n - k) log(1 - p)
  let logPmf = k * Math.log(p) + (n - k) * Math.log1p(-p);
  for (let j = 1; j <= k; j++) logPmf += Math.log((n - k + j) / j);
  const logRatio = Math.log(p) - Math.log1p(-p);
  let total = 0;
  for (let i = k; i <= n; i++) {
    total += Math.exp(logPmf);
    logPmf += Math.log((n - i) / (i + 1)) + logRatio;
  }
  return Math.min(1, total);
}

/** Every voter's agreement record: live A/B votes of people (not bots, not opted out). */
export async function voterAgreement(tx: Tx): Promise<VoterAgreement[]> {
  const people = and(isNull(votes.withdrawnAt), eq(users.isBot, false), isNull(users.optedOutAt), inArray(votes.choice, ['a', 'b']));
  const tally = tx.$with('tally').as(
    tx
      .select({
        promptId: votes.promptId,
        a: sql<number>`(count(*) filter (where ${votes.choice} = 'a'))::int`.as('a'),
        b: sql<number>`(count(*) filter (where ${votes.choice} = 'b'))::int`.as('b'),
      })
      .from(votes)
      .innerJoin(users, eq(users.id, votes.userId))
      .where(people)
      .groupBy(votes.promptId),
  );
  // The other voters' counts on the prompt: this vote taken out.
  const othersA = sql`(${tally.a} - (${votes.choice} = 'a')::int)`;
  const othersB = sql`(${tally.b} - (${votes.choice} = 'b')::int)`;
  return tx
    .with(tally)
    .select({
      userId: users.id,
      platform: users.platform,
      externalId: users.externalId,
      votes: sql<number>`count(*)::int`,
      disagreements: sql<number>`(count(*) filter (where (${votes.choice} = 'a' and ${othersB} > ${othersA}) or (${votes.choice} = 'b' and ${othersA} > ${othersB})))::int`,
    })
    .from(votes)
    .innerJoin(users, eq(users.id, votes.userId))
    .innerJoin(tally, eq(tally.promptId, votes.promptId))
    .where(and(people, sql`${othersA} <> ${othersB}`))
    .groupBy(users.id, users.platform, users.externalId)
    .orderBy(users.id);
}

/** The statistics on agreement records: who disagrees far more than everyone else. */
export function findOutliers(records: VoterAgreement[], config: OutlierConfig = DEFAULT_OUTLIER_CONFIG): OutlierReport {
  if (!(config.minVotes >= 1 && config.alpha > 0 && config.alpha < 1)) {
    throw new Error(`outlier settings need minVotes >= 1 and 0 < alpha < 1, got ${JSON.stringify(config)}`);
  }
  const tested = records.filter((r) => r.votes >= config.minVotes);
  const totalVotes = tested.reduce((n, r) => n + r.votes, 0);
  const totalDisagreements = tested.reduce((n, r) => n + r.disagreements, 0);
  const threshold = config.alpha / Math.max(1, tested.length);
  const outliers: Outlier[] = [];
  for (const r of tested) {
    // Everyone else's rate: a heavy spammer must not raise the bar they are measured against.
    const otherVotes = totalVotes - r.votes;
    if (otherVotes === 0) continue;
    const othersRate = (totalDisagreements - r.disagreements) / otherVotes;
    const pValue = binomialTail(r.votes, r.disagreements, othersRate);
    if (pValue < threshold) outliers.push({ ...r, rate: r.disagreements / r.votes, othersRate, pValue });
  }
  outliers.sort((x, y) => x.pValue - y.pValue);
  return { baseRate: totalVotes ? totalDisagreements / totalVotes : 0, tested: tested.length, threshold, outliers };
}

/** What the dashboard (GET /api/dashboard) and operators call. */
export async function outlierReport(tx: Tx, config: OutlierConfig = DEFAULT_OUTLIER_CONFIG): Promise<OutlierReport> {
  return findOutliers(await voterAgreement(tx), config);
}
