// Prometheus metrics, served at /metrics. One registry for the whole process.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: 'pairwise_process_' });

export const metrics = {
  replies: new Counter({ name: 'pairwise_replies_total', help: 'Candidate pairs sent, by platform and kind', labelNames: ['platform', 'kind'], registers: [registry] }),
  votes: new Counter({ name: 'pairwise_votes_total', help: 'Votes stored or withdrawn, by platform and choice', labelNames: ['platform', 'choice'], registers: [registry] }),
  generationSeconds: new Histogram({
    name: 'pairwise_generation_seconds',
    help: 'Time to sample one candidate pair',
    buckets: [0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1, 2, 5],
    registers: [registry],
  }),
  blocked: new Counter({ name: 'pairwise_blocked_candidates_total', help: 'Candidates the content filter blocked, by reason', labelNames: ['reason'], registers: [registry] }),
  learnerRunSeconds: new Histogram({
    name: 'pairwise_learner_run_seconds',
    help: 'Learner cycle durations, by outcome',
    labelNames: ['outcome'],
    buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800],
    registers: [registry],
  }),
  learnerRuns: new Counter({ name: 'pairwise_learner_runs_total', help: 'Learner cycles, by outcome', labelNames: ['outcome'], registers: [registry] }),
  liveVersion: new Gauge({ name: 'pairwise_live_policy_version', help: 'The policy version this process serves', registers: [registry] }),
};
