// Latency summaries for the load and soak measurements.

/** The p-quantile (0..1) of xs by the nearest-rank method; NaN for an empty list. */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
}

export interface LatencySummary {
  count: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

export function summarize(latenciesMs: readonly number[]): LatencySummary {
  if (latenciesMs.length === 0) return { count: 0, p50: NaN, p95: NaN, p99: NaN, max: NaN };
  const round = (x: number) => Math.round(x * 10) / 10;
  return {
    count: latenciesMs.length,
    p50: round(percentile(latenciesMs, 0.5)),
    p95: round(percentile(latenciesMs, 0.95)),
    p99: round(percentile(latenciesMs, 0.99)),
    max: round(latenciesMs.reduce((m, x) => Math.max(m, x), -Infinity)),
  };
}

export const formatLatency = (s: LatencySummary): string => `p50 ${s.p50} ms, p95 ${s.p95} ms, p99 ${s.p99} ms, max ${s.max} ms (n=${s.count})`;
