// Ratings of policy versions from evaluation votes (prompts whose two candidates come from two
// different versions). A Bradley–Terry model is fitted by Newton's method on log-strengths (each
// step solved by conjugate gradients on the sparse Hessian), with a weak prior of virtual tied games
// against a reference so undefeated versions stay finite. Ratings are on an Elo-like scale,
// 400·log10(strength), anchored so that the mean rating of the rated versions is 1000. Intervals
// come from a seeded bootstrap over the comparisons; each version's head-to-head record against its
// parent gets a Wilson interval, and a clear loss raises an alert.
import { mulberry32 } from '../model/prng.ts';

/** One evaluation vote between versions `a` and `b`: `score` is a's result (1 win, 0.5 tie, 0 loss). */
export interface Comparison {
  a: number;
  b: number;
  score: number;
}

/** A live evaluation vote as stored: the versions behind slots A and B and the voter's choice. */
export interface EvaluationVote {
  versionA: number;
  versionB: number;
  choice: string;
}

export interface RatingConfig {
  /** Virtual tied games each version plays against a reference of strength 1: keeps undefeated or winless versions finite. */
  priorGames: number;
  /** Bootstrap resamples of the comparisons behind each rating interval. */
  rounds: number;
  /** Seed of the bootstrap resampling: the same votes always give the same intervals. */
  seed: number;
  /** Newton's method stops once no log-strength moves by more than this. */
  tolerance: number;
  /** Upper bound on Newton iterations per fit. */
  maxIterations: number;
}

export const DEFAULT_RATING_CONFIG: RatingConfig = { priorGames: 1, rounds: 200, seed: 1, tolerance: 1e-9, maxIterations: 100 };

/** The rating of the average version. */
export const RATING_ANCHOR = 1000;
const ELO_SCALE = 400;
/** Standard normal quantile of a two-sided 95% interval. */
const Z95 = 1.959964;
/** The command an operator runs when a version loses clearly to its parent. */
export const ROLLBACK_COMMAND = 'pairwise policy rollback';

export interface Interval {
  low: number;
  high: number;
}

export interface HeadToHead extends Interval {
  games: number;
  /** Wins of the first version, ties counting half. */
  wins: number;
  winRate: number;
}

export interface VersionRating extends Interval {
  versionId: number;
  rating: number;
  games: number;
}

export interface ParentMatch extends HeadToHead {
  versionId: number;
  parentId: number;
  /** True when the whole 95% interval of the win rate against the parent lies below 0.5. */
  alert: boolean;
}

export interface RatingsReport {
  ratings: VersionRating[];
  vsParent: ParentMatch[];
  comparisons: number;
}

/** A vote as a comparison; null when it says nothing about the two versions (both bad, or the same version twice). */
export function comparisonFromVote(vote: EvaluationVote): Comparison | null {
  if (vote.versionA === vote.versionB) return null;
  const score = { a: 1, b: 0, tie: 0.5 }[vote.choice];
  return score === undefined ? null : { a: vote.versionA, b: vote.versionB, score };
}

/**
 * Comparisons summed per pair of versions (the sufficient statistics of the Bradley–Terry
 * likelihood), as flat arrays: edge e joins version indices edgeI[e] < edgeJ[e].
 */
interface Tallies {
  ids: number[];
  edgeI: Int32Array;
  edgeJ: Int32Array;
  /** Games played on each edge. */
  games: Float64Array;
  /** Total score of each version, ties counting half. */
  wins: Float64Array;
}

/** The tallies, and for each comparison its edge and the score it gives that edge's first version: what a resample draws from. */
interface Sample {
  tallies: Tallies;
  edgeOf: Int32Array;
  scoreI: Float64Array;
}

function tally(comparisons: readonly Comparison[]): Sample {
  const ids = [...new Set(comparisons.flatMap((c) => [c.a, c.b]))].sort((x, y) => x - y);
  const index = new Map(ids.map((id, i) => [id, i]));
  const edgeIndex = new Map<number, number>();
  const pairs: [number, number][] = [];
  const edgeOf = new Int32Array(comparisons.length);
  const scoreI = new Float64Array(comparisons.length);
  comparisons.forEach((c, n) => {
    const a = index.get(c.a)!;
    const b = index.get(c.b)!;
    const key = Math.min(a, b) * ids.length + Math.max(a, b);
    if (!edgeIndex.has(key)) edgeIndex.set(key, pairs.push([Math.min(a, b), Math.max(a, b)]) - 1);
    edgeOf[n] = edgeIndex.get(key)!;
    scoreI[n] = a < b ? c.score : 1 - c.score;
  });
  const counts = new Float64Array(pairs.length);
  const scores = new Float64Array(pairs.length);
  for (let n = 0; n < edgeOf.length; n++) {
    counts[edgeOf[n]]++;
    scores[edgeOf[n]] += scoreI[n];
  }
  return { tallies: build(ids, pairs, counts, scores), edgeOf, scoreI };
}

/** Tallies over `ids` from per-edge games and first-version scores. */
function build(ids: number[], pairs: readonly [number, number][], counts: Float64Array, scores: Float64Array): Tallies {
  const wins = new Float64Array(ids.length);
  pairs.forEach(([i, j], e) => {
    wins[i] += scores[e];
    wins[j] += counts[e] - scores[e];
  });
  return { ids, edgeI: Int32Array.from(pairs, (p) => p[0]), edgeJ: Int32Array.from(pairs, (p) => p[1]), games: counts, wins };
}

/** Tallies of one bootstrap resample (n draws with replacement), over the versions it still contains. */
function resample(source: Sample, rand: () => number): Tallies {
  const { tallies, edgeOf, scoreI } = source;
  const n = edgeOf.length;
  const counts = new Float64Array(tallies.games.length);
  const scores = new Float64Array(tallies.games.length);
  for (let draw = 0; draw < n; draw++) {
    const c = Math.floor(rand() * n);
    counts[edgeOf[c]]++;
    scores[edgeOf[c]] += scoreI[c];
  }
  const kept = [...counts.keys()].filter((e) => counts[e] > 0);
  const present = [...new Set(kept.flatMap((e) => [tallies.edgeI[e], tallies.edgeJ[e]]))].sort((x, y) => x - y);
  const local = new Map(present.map((old, i) => [old, i]));
  return build(
    present.map((old) => tallies.ids[old]),
    kept.map((e) => [local.get(tallies.edgeI[e])!, local.get(tallies.edgeJ[e])!]),
    Float64Array.from(kept, (e) => counts[e]),
    Float64Array.from(kept, (e) => scores[e]),
  );
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
const softplus = (x: number) => (x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x)));

/** Log-likelihood of log-strengths θ, with the prior's virtual tied games against a reference at θ = 0. */
function logLikelihood(t: Tallies, prior: number, theta: Float64Array): number {
  let sum = 0;
  for (let i = 0; i < theta.length; i++) sum += (t.wins[i] + prior / 2) * theta[i] - prior * softplus(theta[i]);
  // log(e^θi + e^θj) = θj + softplus(θi − θj)
  for (let e = 0; e < t.games.length; e++) {
    const i = t.edgeI[e];
    const j = t.edgeJ[e];
    sum -= t.games[e] * (theta[j] + softplus(theta[i] - theta[j]));
  }
  return sum;
}

function dot(x: Float64Array, y: Float64Array): number {
  let sum = 0;
  for (let i = 0; i < x.length; i++) sum += x[i] * y[i];
  return sum;
}

/**
 * The negated Hessian of the log-likelihood times x, into out: a graph Laplacian weighted by
 * `weight` per edge plus `diagonal`; with `pinMean` also 1·1ᵀx, which fixes the mean of a
 * prior-free fit (only differences are identified then) without changing the step.
 */
function negHessianTimes(t: Tallies, weight: Float64Array, diagonal: Float64Array, pinMean: boolean, x: Float64Array, out: Float64Array): void {
  let sum = 0;
  for (let i = 0; i < x.length; i++) {
    out[i] = diagonal[i] * x[i];
    sum += x[i];
  }
  for (let e = 0; e < weight.length; e++) {
    const i = t.edgeI[e];
    const j = t.edgeJ[e];
    const flow = weight[e] * (x[i] - x[j]);
    out[i] += flow;
    out[j] -= flow;
  }
  if (pinMean) for (let i = 0; i < x.length; i++) out[i] += sum;
}

/** Solves A x = b by conjugate gradients, A symmetric positive (semi-)definite and given by its product. */
function conjugateGradient(apply: (x: Float64Array, out: Float64Array) => void, b: Float64Array): Float64Array {
  const k = b.length;
  const x = new Float64Array(k);
  const r = Float64Array.from(b);
  const p = Float64Array.from(b);
  const ap = new Float64Array(k);
  let rr = dot(r, r);
  const goal = 1e-24 * rr;
  for (let iter = 0; iter < 4 * k + 20 && rr > goal; iter++) {
    apply(p, ap);
    const alpha = rr / dot(p, ap);
    for (let i = 0; i < k; i++) {
      x[i] += alpha * p[i];
      r[i] -= alpha * ap[i];
    }
    const next = dot(r, r);
    for (let i = 0; i < k; i++) p[i] = r[i] + (next / rr) * p[i];
    rr = next;
  }
  return x;
}

/**
 * Maximum-likelihood log-strengths by Newton's method from `start`, each step solved by conjugate
 * gradients on the sparse Hessian, with a backtracking line search.
 */
function solve(t: Tallies, config: RatingConfig, start: Float64Array): Float64Array {
  const k = t.ids.length;
  const prior = config.priorGames;
  const g = new Float64Array(k);
  const diagonal = new Float64Array(k);
  const weight = new Float64Array(t.games.length);
  let theta = start;
  let current = logLikelihood(t, prior, theta);
  for (let iter = 0; iter < config.maxIterations; iter++) {
    for (let i = 0; i < k; i++) {
      const p = sigmoid(theta[i]);
      g[i] = t.wins[i] + prior / 2 - prior * p;
      diagonal[i] = prior * p * (1 - p);
    }
    for (let e = 0; e < weight.length; e++) {
      const i = t.edgeI[e];
      const j = t.edgeJ[e];
      const p = sigmoid(theta[i] - theta[j]);
      g[i] -= t.games[e] * p;
      g[j] -= t.games[e] * (1 - p);
      weight[e] = t.games[e] * p * (1 - p);
    }
    const step = conjugateGradient((x, out) => negHessianTimes(t, weight, diagonal, prior === 0, x, out), g);
    let scale = 1;
    let next = theta.map((x, i) => x + step[i]);
    let value = logLikelihood(t, prior, next);
    while (value < current && scale > 1e-6) {
      scale /= 2;
      next = theta.map((x, i) => x + scale * step[i]);
      value = logLikelihood(t, prior, next);
    }
    const moved = step.reduce((m, x) => Math.max(m, Math.abs(scale * x)), 0);
    theta = next;
    current = value;
    if (moved < config.tolerance) break;
  }
  return theta;
}

/** Log-strengths on the rating scale (400·log10 of the strength), shifted so their mean is RATING_ANCHOR. */
function toRatings(ids: readonly number[], theta: Float64Array): Map<number, number> {
  const logs = Array.from(theta, (x) => (ELO_SCALE * x) / Math.LN10);
  const mean = logs.reduce((sum, x) => sum + x, 0) / logs.length;
  return new Map(ids.map((id, i) => [id, RATING_ANCHOR + logs[i] - mean]));
}

/** Bradley–Terry ratings (mean RATING_ANCHOR) of every version that appears in the comparisons. */
export function fitBradleyTerry(comparisons: readonly Comparison[], config: RatingConfig = DEFAULT_RATING_CONFIG): Map<number, number> {
  const { tallies } = tally(comparisons);
  return toRatings(tallies.ids, solve(tallies, config, new Float64Array(tallies.ids.length)));
}

/** Linear-interpolated quantile of sorted values. */
function quantile(sorted: readonly number[], q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/** 95% percentile-bootstrap intervals of each version's rating, resampling whole comparisons. */
export function bootstrapIntervals(comparisons: readonly Comparison[], config: RatingConfig = DEFAULT_RATING_CONFIG): Map<number, Interval> {
  const source = tally(comparisons);
  const full = source.tallies;
  const fitted = solve(full, config, new Float64Array(full.ids.length));
  const fittedOf = new Map(full.ids.map((id, i) => [id, fitted[i]]));
  const rand = mulberry32(config.seed);
  const samples = new Map<number, number[]>();
  for (let round = 0; round < config.rounds && comparisons.length > 0; round++) {
    const t = resample(source, rand);
    // Starting from the full fit, each resample needs only a few iterations.
    const theta = solve(t, config, Float64Array.from(t.ids, (id) => fittedOf.get(id)!));
    for (const [id, rating] of toRatings(t.ids, theta)) {
      const list = samples.get(id) ?? [];
      list.push(rating);
      samples.set(id, list);
    }
  }
  const out = new Map<number, Interval>();
  for (const [id, list] of samples) {
    list.sort((x, y) => x - y);
    out.set(id, { low: quantile(list, 0.025), high: quantile(list, 0.975) });
  }
  return out;
}

/** Wilson score interval (95%) of a proportion; half-wins from ties are fine. */
export function wilsonInterval(successes: number, n: number): Interval {
  if (n === 0) return { low: 0, high: 1 };
  const p = successes / n;
  const z2 = Z95 * Z95;
  const centre = (p + z2 / (2 * n)) / (1 + z2 / n);
  const half = (Z95 / (1 + z2 / n)) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  return { low: Math.max(0, centre - half), high: Math.min(1, centre + half) };
}

function record(games: number, wins: number): HeadToHead {
  return { games, wins, winRate: games ? wins / games : NaN, ...wilsonInterval(wins, games) };
}

/** Version x's record against version y over their direct comparisons. */
export function headToHead(comparisons: readonly Comparison[], x: number, y: number): HeadToHead {
  let games = 0;
  let wins = 0;
  for (const c of comparisons) {
    if (c.a === x && c.b === y) wins += c.score;
    else if (c.a === y && c.b === x) wins += 1 - c.score;
    else continue;
    games++;
  }
  return record(games, wins);
}

/** Ratings with intervals, and each version's record against its parent (`parents`: version id → parent id). */
export function rateVersions(
  comparisons: readonly Comparison[],
  parents: ReadonlyMap<number, number | null>,
  config: RatingConfig = DEFAULT_RATING_CONFIG,
): RatingsReport {
  const fitted = fitBradleyTerry(comparisons, config);
  const intervals = bootstrapIntervals(comparisons, config);
  const gamesOf = new Map<number, number>();
  for (const c of comparisons) for (const id of [c.a, c.b]) gamesOf.set(id, (gamesOf.get(id) ?? 0) + 1);
  // A version too rare to show up in any resample has no interval (NaN, null in JSON).
  const ratings = [...fitted].map(([versionId, rating]) => ({
    versionId,
    rating,
    games: gamesOf.get(versionId)!,
    ...(intervals.get(versionId) ?? { low: NaN, high: NaN }),
  }));
  return { ratings, vsParent: parentMatches(comparisons, parents), comparisons: comparisons.length };
}

/** Each version's record against its parent, for versions that have met their parent at least once. */
export function parentMatches(comparisons: readonly Comparison[], parents: ReadonlyMap<number, number | null>): ParentMatch[] {
  // Games and the lower id's score per pair of versions, so each parent lookup is one step.
  const pairs = new Map<string, { games: number; lowScore: number }>();
  for (const c of comparisons) {
    const key = `${Math.min(c.a, c.b)}:${Math.max(c.a, c.b)}`;
    const pair = pairs.get(key) ?? { games: 0, lowScore: 0 };
    pair.games++;
    pair.lowScore += c.a < c.b ? c.score : 1 - c.score;
    pairs.set(key, pair);
  }
  const out: ParentMatch[] = [];
  for (const [versionId, parentId] of parents) {
    const pair = parentId === null ? undefined : pairs.get(`${Math.min(versionId, parentId)}:${Math.max(versionId, parentId)}`);
    if (parentId === null || !pair) continue;
    const m = record(pair.games, versionId < parentId ? pair.lowScore : pair.games - pair.lowScore);
    out.push({ versionId, parentId, ...m, alert: m.high < 0.5 });
  }
  return out.sort((x, y) => x.versionId - y.versionId);
}
