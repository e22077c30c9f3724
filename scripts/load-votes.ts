// Load test of the vote path: thousands of reactions from many simulated voters through the real
// ChatService against real PostgreSQL (a throwaway database it creates and drops), with messages
// answered by a real tiny policy (LivePolicy), redelivered events and races on the same prompt.
// Afterwards the stored votes must equal the expected set exactly (see test/helpers/vote-load.ts).
//
// With --outage SECONDS it stops the local PostgreSQL cluster halfway through the votes and starts
// it again after SECONDS: every acknowledged vote must still be stored, messages during the outage
// must get the "briefly unavailable" answer, and the policy must hot-reload again afterwards.
// PostgreSQL is always started again: on success, failure, Ctrl-C, SIGTERM or a crash.
//
// Run: npm run load:votes [-- --outage 8] [--voters 300] [--prompts 240] [--seed 7]
// DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres) is used only to create and drop the database.
// Exit code 0 when nothing was lost or wrong, 1 otherwise.
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { ChatService } from '../src/chat/service.ts';
import { openDatabase, type Database } from '../src/db/client.ts';
import { initBackend } from '../src/model/backend.ts';
import type { LivePolicy } from '../src/model/live-policy.ts';
import { createTestPgDatabase, dropTestPgDatabase } from '../test/helpers/db.ts';
import { loadServiceOptions, publishTinyPolicy, startLivePolicy } from '../test/helpers/policy.ts';
import { formatLatency, summarize } from '../test/helpers/stats.ts';
import { checkVotes, DEFAULT_VOTE_LOAD, flagVoters, planVotes, postPrompts, runVotes, type VoteLoadConfig } from '../test/helpers/vote-load.ts';

const LOAD = {
  /** The local cluster --outage stops and starts (pg_ctlcluster VERSION NAME). */
  cluster: ['15', 'main'],
  /** Connections in the bot's pool, as `pairwise start` opens it. */
  poolSize: 10,
  /** How long vote writes keep retrying (app.ts uses 60 s); raised to cover a longer outage. */
  voteRetryMs: 60_000,
  /** New tokens per candidate: a short reply keeps the tiny model's share of the time small. */
  maxNewTokens: 16,
  /** Pause between the messages sent while the votes run (they probe availability). */
  chatterPauseMs: 100,
  /** Starts tried on the way out before giving up (and saying how to start it by hand). */
  restartAttempts: 5,
  /** How long the policy may take to reload a version published after the outage. */
  reloadTimeoutMs: 45_000,
};

const execFileAsync = promisify(execFile);

function positiveInt(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} needs a whole number, e.g. --${name} ${fallback}`);
  return n;
}

const { values: flags } = parseArgs({
  options: { outage: { type: 'string' }, voters: { type: 'string' }, prompts: { type: 'string' }, seed: { type: 'string' }, concurrency: { type: 'string' } },
});
const outageSeconds = positiveInt('outage', flags.outage, 0);
const cfg: VoteLoadConfig = {
  ...DEFAULT_VOTE_LOAD,
  voters: positiveInt('voters', flags.voters, DEFAULT_VOTE_LOAD.voters),
  prompts: positiveInt('prompts', flags.prompts, DEFAULT_VOTE_LOAD.prompts),
  seed: positiveInt('seed', flags.seed, DEFAULT_VOTE_LOAD.seed),
  concurrency: positiveInt('concurrency', flags.concurrency, DEFAULT_VOTE_LOAD.concurrency),
};
if (cfg.prompts < cfg.hotPrompts + cfg.promptsPerVoter) throw new Error(`--prompts must be at least ${cfg.hotPrompts + cfg.promptsPerVoter}`);

/** Stops and starts the shared cluster; whatever happens, it is running again when this process ends. */
class Outage {
  private down = false;

  private ctl(action: 'stop' | 'start' | 'status'): string[] {
    return ['--skip-systemctl-redirect', ...LOAD.cluster, action, ...(action === 'stop' ? ['-m', 'fast'] : [])];
  }

  /** Synchronous, so no exit path can run while a stop is half done and find the cluster "running". */
  stop(): void {
    this.down = true;
    execFileSync('pg_ctlcluster', this.ctl('stop'), { stdio: 'inherit' });
  }

  async start(): Promise<void> {
    try {
      await execFileAsync('pg_ctlcluster', this.ctl('start'));
    } catch (err) {
      // restoreSync may have started it already, on the way out.
      if (!/already running/i.test(String((err as { stderr?: string }).stderr))) throw err;
    }
    this.down = false;
  }

  private runningSync(): boolean {
    try {
      execFileSync('pg_ctlcluster', this.ctl('status'), { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  }

  /** For exit paths, where nothing asynchronous runs any more: starts it and checks that it runs. */
  restoreSync(): void {
    if (!this.down) return;
    for (let attempt = 0; attempt < LOAD.restartAttempts && !this.runningSync(); attempt++) {
      try {
        execFileSync('pg_ctlcluster', this.ctl('start'), { stdio: 'inherit' });
      } catch {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1000); // a start in flight: look again shortly
      }
    }
    const running = this.runningSync();
    this.down = !running;
    console.error(running ? `load-votes: PostgreSQL ${LOAD.cluster.join('/')} is running again` : `load-votes: COULD NOT START PostgreSQL: run pg_ctlcluster ${LOAD.cluster.join(' ')} start`);
  }
}

const outage = new Outage();
/** The throwaway database, while it exists. */
let throwaway: string | undefined;

/** On a signal or crash: PostgreSQL first, then the throwaway database, without the event loop. */
function cleanUpSync(): void {
  outage.restoreSync();
  if (!throwaway) return;
  const name = new URL(throwaway).pathname.slice(1);
  try {
    execFileSync('psql', [process.env.DATABASE_URL!, '-qc', `drop database if exists ${name} with (force)`], { stdio: 'ignore' });
  } catch {
    console.error(`load-votes: could not drop the throwaway database ${name}: drop it with psql -c 'drop database ${name}'`);
  }
  throwaway = undefined;
}

process.on('exit', () => outage.restoreSync());
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    console.error(`load-votes: ${signal}, stopping`);
    cleanUpSync();
    process.exit(130);
  });
}
process.on('uncaughtException', (err) => {
  console.error('load-votes: crashed:', err);
  cleanUpSync();
  process.exit(1);
});

/** LISTEN connections on the database: exactly one (the policy's) after a recovery. */
async function listenConnections(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query(`select count(*)::int as n from pg_stat_activity where datname = current_database() and query ilike 'listen%'`);
    return rows[0].n;
  } finally {
    await client.end();
  }
}

/** Clients the bot's pool holds that are checked out although no work runs: leaked by an error path. */
function checkedOutClients(database: Database): number {
  const pool = (database.db as unknown as { $client: pg.Pool }).$client;
  return pool.totalCount - pool.idleCount;
}

interface Chatter {
  answered: number;
  unavailable: number;
  otherText: string[];
  thrown: string[];
}

/** Sends messages one after another until `done()`: during an outage each must get the unavailable notice. */
async function chatter(service: ChatService, done: () => boolean): Promise<Chatter> {
  const out: Chatter = { answered: 0, unavailable: 0, otherText: [], thrown: [] };
  for (let i = 0; !done(); i++) {
    try {
      const reply = await service.handleMessage({ user: { platform: 'slack', externalId: 'chatter', isBot: false }, channelId: 'chatter', eventId: `chatter-${i}`, text: `still there? ${i}` });
      if (reply.kind === 'candidates') out.answered++;
      else if (reply.kind === 'text' && /briefly unavailable/.test(reply.text)) out.unavailable++;
      else out.otherText.push(JSON.stringify(reply));
    } catch (err) {
      out.thrown.push((err as Error).message);
    }
    await new Promise((r) => setTimeout(r, LOAD.chatterPauseMs));
  }
  return out;
}

async function main(): Promise<boolean> {
  process.env.DATABASE_URL ??= 'postgres://postgres@127.0.0.1:5432/postgres';
  const voteRetryMs = Math.max(LOAD.voteRetryMs, (outageSeconds + 30) * 1000);
  const backend = await initBackend();
  const url = await createTestPgDatabase();
  throwaway = url;
  let database: Database | undefined;
  let policy: LivePolicy | undefined;
  try {
    database = await openDatabase({ url, poolSize: LOAD.poolSize });
    await publishTinyPolicy(database);
    policy = await startLivePolicy(database, { maxNewTokens: LOAD.maxNewTokens });
    const service = new ChatService(database, policy, loadServiceOptions(voteRetryMs));
    console.log(`load-votes: PostgreSQL ${new URL(url).pathname.slice(1)}, pool ${LOAD.poolSize}, tiny policy on ${backend}, seed ${cfg.seed}${outageSeconds ? `, outage ${outageSeconds} s` : ''}`);

    const messages = await postPrompts(service, cfg);
    const uniqueMessages = cfg.prompts;
    console.log(
      `messages: ${uniqueMessages} (+${messages.duplicated} redelivered at once) in ${(messages.wallMs / 1000).toFixed(1)} s = ${((uniqueMessages / messages.wallMs) * 1000).toFixed(1)} messages/s; ` +
        `latency ${formatLatency(summarize(messages.latenciesMs))}; inconsistent redeliveries ${messages.inconsistent.length}`,
    );

    const plan = planVotes(messages.prompts, cfg);
    await flagVoters(database, plan);
    console.log(`votes: ${plan.pairs.length} (voter, prompt) sequences, ${plan.reactions} reaction deliveries, ${cfg.concurrency} sequences in flight`);

    let outageDone: Promise<void> | undefined;
    const halfway = Math.floor(plan.reactions / 2);
    const onAck = (acked: number) => {
      if (!outageSeconds || outageDone || acked < halfway) return;
      outageDone = (async () => {
        const t0 = performance.now();
        outage.stop();
        const stoppedAt = performance.now();
        console.log(`outage: PostgreSQL stopped after ${acked} acknowledged reactions (stop took ${Math.round(stoppedAt - t0)} ms)`);
        await new Promise((r) => setTimeout(r, outageSeconds * 1000));
        await outage.start();
        console.log(`outage: PostgreSQL started again after ${((performance.now() - stoppedAt) / 1000).toFixed(1)} s`);
      })();
    };
    let votingDone = false;
    const chat = outageSeconds ? chatter(service, () => votingDone) : undefined;
    const votes = await runVotes(service, plan, cfg, onAck);
    votingDone = true;
    const outageHappened = outageDone !== undefined;
    await outageDone;
    const chatted = await chat;
    const check = await checkVotes(database, plan, votes);

    const vs = summarize(votes.latenciesMs);
    console.log(
      `votes: ${votes.acknowledged} acknowledged in ${(votes.wallMs / 1000).toFixed(1)} s = ${Math.round((votes.acknowledged / votes.wallMs) * 1000)} votes/s; latency ${formatLatency(vs)}`,
    );
    console.log(
      `check: ${check.checked} pairs compared, ${check.mismatches.length} mismatches, ${check.lost} acknowledged votes lost, ${check.unexpected.length} unexpected rows, ` +
        `${votes.failures.length} unacknowledged deliveries, ${votes.wrongOutcomes.length} wrong answers`,
    );
    for (const line of [...check.mismatches, ...check.unexpected, ...votes.failures, ...votes.wrongOutcomes, ...messages.inconsistent].slice(0, 10)) console.log(`  ${line}`);

    let ok = check.mismatches.length === 0 && check.unexpected.length === 0 && votes.failures.length === 0 && votes.wrongOutcomes.length === 0 && messages.inconsistent.length === 0;
    if (outageSeconds) {
      if (!outageHappened || !chatted) throw new Error('the outage never started: the votes finished before halfway?');
      console.log(
        `outage: messages meanwhile: ${chatted.answered} answered, ${chatted.unavailable} told "briefly unavailable", ${chatted.otherText.length} other answers, ${chatted.thrown.length} errors`,
      );
      for (const line of [...chatted.otherText, ...chatted.thrown].slice(0, 5)) console.log(`  ${line}`);
      const recovered = await service.handleMessage({ user: { platform: 'web', externalId: 'after', isBot: false }, channelId: 'after', eventId: 'after-outage', text: 'back?' });
      const before = policy.liveVersion();
      const t0 = performance.now();
      const next = await publishTinyPolicy(database, { seed: 2, parentId: before });
      while (policy.liveVersion() !== next.id && performance.now() - t0 < LOAD.reloadTimeoutMs) await new Promise((r) => setTimeout(r, 100));
      const reloaded = policy.liveVersion() === next.id;
      const listeners = await listenConnections(url);
      const leaked = checkedOutClients(database);
      console.log(
        `outage: after recovery a message got ${recovered.kind}; a new version was ${reloaded ? `served after ${Math.round(performance.now() - t0)} ms` : 'NOT served'}; ` +
          `LISTEN connections ${listeners} (want 1); pool clients checked out while idle ${leaked} (want 0)`,
      );
      ok &&= chatted.thrown.length === 0 && chatted.otherText.length === 0 && chatted.unavailable > 0 && recovered.kind === 'candidates' && reloaded && listeners === 1 && leaked === 0;
    }
    console.log(
      JSON.stringify({
        outageSeconds,
        messagesPerSecond: Number(((uniqueMessages / messages.wallMs) * 1000).toFixed(2)),
        messageLatencyMs: summarize(messages.latenciesMs),
        votesAcknowledged: votes.acknowledged,
        votesPerSecond: Math.round((votes.acknowledged / votes.wallMs) * 1000),
        voteLatencyMs: vs,
        lost: check.lost,
        mismatches: check.mismatches.length,
        unacknowledged: votes.failures.length,
        ok,
      }),
    );
    return ok;
  } finally {
    await policy?.stop();
    await database?.close().catch(() => {});
    outage.restoreSync();
    await dropTestPgDatabase(url);
    throwaway = undefined;
  }
}

main().then(
  (ok) => {
    console.log(ok ? 'load-votes: OK, nothing lost' : 'load-votes: FAILED');
    process.exit(ok ? 0 : 1);
  },
  (err: Error) => {
    console.error(`load-votes: ${err.message}`);
    process.exit(1);
  },
);
