// The policy a bot process serves. It loads the live version from the database, samples the two
// candidates for each message, and hot-reloads when the learner publishes: NOTIFY says so at
// once, and a slow poll catches what a dropped notification connection missed.
import { performance } from 'node:perf_hooks';
import type { Config } from '../config.ts';
import type { Database } from '../db/client.ts';
import * as q from '../db/queries.ts';
import type { ContextTurn, PolicyVersion, SamplingSettings } from '../db/schema.ts';
import { log } from '../log.ts';
import { metrics } from '../metrics.ts';
import type { GeneratedPair, GeneratedReply, Responder } from '../chat/service.ts';
import { ContentFilter } from '../safety/filter.ts';
import { generate } from './generate.ts';
import { loadPolicy } from './store.ts';
import type { Tokenizer } from './tokenizer.ts';
import type { GPT } from './transformer.ts';

export interface LivePolicyOptions {
  temperature: number;
  topP: number;
  maxNewTokens: number;
  /** Share of prompts answered by the live and the previous live version, one candidate each. */
  evalShare: number;
  /** During a staged rollout, share of prompts answered by the live policy and the challenger. */
  challengerShare: number;
  /** Fallback poll for a new live version, for when a notification is missed. */
  pollMs: number;
  /** Every candidate passes it before it is returned; blocked ones are resampled, then replaced. */
  filter: ContentFilter;
  random?: () => number;
}

/** A loaded version; disposed once it is replaced and no generation still uses it. */
interface Loaded {
  version: PolicyVersion;
  model: GPT;
  tokenizer: Tokenizer;
  users: number;
  replaced: boolean;
}

/** Wait before listening again after the notification connection is lost. */
const LISTEN_RETRY_MS = 5000;

/** A byte-level model can sample control bytes (NUL among them): a posted reply never holds them. */
function printable(text: string): string {
  return text.replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/g, '').trim();
}

export class LivePolicy implements Responder {
  private live: Loaded | undefined;
  /** The version live before this one, for evaluation pairs (loaded only when evalShare > 0). */
  private previous: Loaded | undefined;
  /** The challenger of a running staged rollout (loaded only when challengerShare > 0). */
  private challenger: Loaded | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private reloading: Promise<void> | undefined;
  private stopListening: (() => Promise<void>) | undefined;
  private poller: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly random: () => number;

  static optionsFrom(config: Config): LivePolicyOptions {
    return {
      temperature: config.TEMPERATURE,
      topP: config.TOP_P,
      maxNewTokens: config.MAX_NEW_TOKENS,
      evalShare: config.EVAL_SHARE,
      challengerShare: config.STAGED_ROLLOUT ? config.CHALLENGER_SHARE : 0,
      pollMs: 30_000,
      filter: ContentFilter.withBlocklistFile(config.FILTER_BLOCKLIST_FILE),
    };
  }

  constructor(
    private readonly database: Database,
    private readonly opts: LivePolicyOptions,
  ) {
    this.random = opts.random ?? Math.random;
  }

  async start(): Promise<void> {
    await this.reload();
    if (!this.live) throw new Error('no live policy in the database: run `pairwise bootstrap` first');
    await this.listen();
    this.poller = setInterval(() => void this.reload(), this.opts.pollMs);
    this.poller.unref();
  }

  /** Listens for publishes; `again` after a lost connection, when a publish may have gone unheard. */
  private async listen(again = false): Promise<void> {
    if (this.stopped) return;
    try {
      const stop = await this.database.listen(
        q.POLICY_CHANNEL,
        () => void this.reload(),
        (err) => {
          // The poll keeps reloads coming; try to listen again a little later.
          log.warn('policy notifications lost, polling until they are back', { err: err.message });
          this.stopListening = undefined;
          this.listenLater();
        },
      );
      if (this.stopped) return await stop();
      this.stopListening = stop;
      // A version published while nobody listened was announced to no one.
      if (again) await this.reload();
    } catch (err) {
      log.warn('cannot listen for policy notifications, polling instead', { err: (err as Error).message });
      this.listenLater();
    }
  }

  private listenLater(): void {
    if (!this.stopped) setTimeout(() => void this.listen(true), LISTEN_RETRY_MS).unref();
  }

  liveVersion(): number | null {
    return this.live?.version.id ?? null;
  }

  /** Loads the live version if it changed; concurrent calls share one reload. */
  reload(): Promise<void> {
    this.reloading ??= this.doReload().finally(() => (this.reloading = undefined));
    return this.reloading;
  }

  private async doReload(): Promise<void> {
    if (this.stopped) return;
    try {
      const db = this.database.db;
      const [liveRow, challengerRow] = await Promise.all([q.livePolicy(db), this.opts.challengerShare > 0 ? q.challengerPolicy(db) : undefined]);
      const loaded = [this.live, this.previous, this.challenger].filter((l): l is Loaded => l !== undefined);
      // A version already in memory (a promoted challenger, a rolled-back previous) is not loaded twice.
      const obtain = async (row: PolicyVersion) => loaded.find((l) => l.version.id === row.id) ?? (await this.load(row));
      let { live, previous, challenger } = this;
      if (liveRow && liveRow.id !== live?.version.id) {
        previous = this.opts.evalShare > 0 ? live : undefined;
        live = await obtain(liveRow);
      }
      if ((challengerRow?.id ?? null) !== (challenger?.version.id ?? null)) challenger = challengerRow ? await obtain(challengerRow) : undefined;
      const liveChanged = live !== this.live;
      const challengerChanged = challenger !== this.challenger;
      // The swap is plain assignments between generations: a request uses one whole model or another.
      Object.assign(this, { live, previous, challenger });
      for (const l of loaded) if (l !== live && l !== previous && l !== challenger) this.release(l);
      if (liveChanged && live) {
        metrics.liveVersion.set(live.version.id);
        log.info('serving policy version', { version: live.version.id, previous: previous?.version.id ?? null });
      }
      if (challengerChanged) log.info('staged rollout challenger', { version: challenger?.version.id ?? null, share: this.opts.challengerShare });
    } catch (err) {
      log.error('could not load the live policy; the previous one keeps serving', { err: (err as Error).message });
    }
  }

  private async load(version: PolicyVersion): Promise<Loaded> {
    const { model, tokenizer } = await loadPolicy(this.database.db, version);
    return { version, model, tokenizer, users: 0, replaced: false };
  }

  private release(loaded: Loaded): void {
    loaded.replaced = true;
    if (loaded.users === 0) loaded.model.dispose();
  }

  /** Generations run one at a time: TF.js work on one thread gains nothing from interleaving. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => {});
    return run;
  }

  respond(context: ContextTurn[]): Promise<GeneratedPair> {
    return this.exclusive(async () => {
      const live = this.live;
      if (!live) throw new Error('no policy loaded');
      const [kind, other] = this.opponent();
      const using = other ? [live, other] : [live];
      for (const l of using) l.users++;
      try {
        if (!other) {
          const replies = await this.sample(live, context, 2);
          return { kind, replies: [await this.screen(live, context, replies[0]), await this.screen(live, context, replies[1])] };
        }
        const [mine] = await this.sample(live, context, 1);
        const [theirs] = await this.sample(other, context, 1);
        return { kind, replies: [await this.screen(live, context, mine), await this.screen(other, context, theirs)] };
      } finally {
        for (const l of using) {
          l.users--;
          if (l.replaced && l.users === 0) l.model.dispose();
        }
      }
    });
  }

  /** Which version answers beside the live one: the challenger, the previous version, or none. */
  private opponent(): ['normal' | 'eval' | 'challenger', Loaded | undefined] {
    if (this.challenger && this.random() < this.opts.challengerShare) return ['challenger', this.challenger];
    if (this.previous && this.random() < this.opts.evalShare) return ['eval', this.previous];
    return ['normal', undefined];
  }

  private async sample(policy: Loaded, context: ContextTurn[], count: number): Promise<GeneratedReply[]> {
    const { model, tokenizer } = policy;
    const sampling: SamplingSettings = {
      temperature: this.opts.temperature,
      topP: this.opts.topP,
      maxNewTokens: this.opts.maxNewTokens,
      seed: Math.floor(this.random() * 2 ** 31),
    };
    const promptIds = tokenizer.renderChat(context, model.config.contextLength - sampling.maxNewTokens);
    const started = performance.now();
    const samples = await generate(model, promptIds, { ...sampling, numSamples: count, eotId: tokenizer.special.eot });
    const latencyMs = Math.round(performance.now() - started);
    return samples.map((s) => ({
      text: printable(tokenizer.decode(s.tokenIds)),
      tokenIds: s.tokenIds,
      logprobs: s.logprobs,
      policyVersionId: policy.version.id,
      sampling,
      latencyMs,
    }));
  }

  /** Returns the reply if the filter passes it, else a resample that passes, else the fallback. */
  private async screen(policy: Loaded, context: ContextTurn[], reply: GeneratedReply): Promise<GeneratedReply> {
    const { filter } = this.opts;
    for (let attempt = 0; ; attempt++) {
      const verdict = filter.check(reply.text);
      if (verdict.ok) return reply;
      const fellBack = attempt >= filter.config.maxResamples;
      metrics.blocked.inc({ reason: verdict.reason });
      log.warn('candidate blocked by the content filter', { reason: verdict.reason, version: policy.version.id, fellBack });
      await q.recordBlocked(this.database.db, policy.version.id, verdict.reason, fellBack).catch(() => {});
      if (fellBack) {
        const tokenIds = [...policy.tokenizer.encode(filter.config.fallback), policy.tokenizer.special.eot];
        return { ...reply, text: filter.config.fallback, tokenIds, logprobs: [] };
      }
      [reply] = await this.sample(policy, context, 1);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.poller) clearInterval(this.poller);
    await this.stopListening?.();
    await this.queue;
    for (const l of [this.live, this.previous, this.challenger]) if (l) l.model.dispose();
    this.live = this.previous = this.challenger = undefined;
  }
}

/** `pairwise generate "text"`: prints the live policy's A and B for one message. */
export async function generateCommand(config: Config, text: string): Promise<number> {
  if (!text.trim()) throw new Error('give the message to answer: pairwise generate "hello"');
  const { initBackend } = await import('./backend.ts');
  const { openConfiguredDatabase } = await import('../db/client.ts');
  const { ensureLivePolicy } = await import('../learn/bootstrap.ts');
  await initBackend(config.PAIRWISE_BACKEND);
  const database = await openConfiguredDatabase(config);
  try {
    await ensureLivePolicy(database, config);
    const policy = new LivePolicy(database, { ...LivePolicy.optionsFrom(config), evalShare: 0 });
    await policy.start();
    const pair = await policy.respond([{ role: 'user', text }]);
    console.log(`policy v${policy.liveVersion()} (${pair.replies[0].latencyMs} ms)\nA: ${pair.replies[0].text}\nB: ${pair.replies[1].text}`);
    await policy.stop();
    return 0;
  } finally {
    await database.close();
  }
}
