// The platform-neutral chat service: a message in becomes two stored candidates out; a reaction
// in becomes a stored, changed or withdrawn vote. It knows nothing of Discord, Slack or the web.
import type { Database } from '../db/client.ts';
import * as q from '../db/queries.ts';
import type { ContextTurn, SamplingSettings } from '../db/schema.ts';
import { log } from '../log.ts';
import { metrics } from '../metrics.ts';
import { isTransientDbError, retrying } from './retry.ts';
import { UNKNOWN_PROMPT, UNPAIRED_SURROGATE, type ChatHandler, type ChatReply, type ChatUser, type IncomingMessage, type IncomingReaction, type Platform, type VoteOutcome } from './types.ts';

/** One candidate reply as the policy produced it, with what the learner needs to train on it. */
export interface GeneratedReply {
  text: string;
  tokenIds: number[];
  logprobs: number[];
  policyVersionId: number;
  sampling: SamplingSettings;
  latencyMs: number;
}

export interface GeneratedPair {
  /** 'normal': both from the live policy; 'eval' / 'challenger': one from each of two versions. */
  kind: string;
  replies: [GeneratedReply, GeneratedReply];
}

/** The policy side of the service: implemented by LivePolicy (src/model/live-policy.ts). */
export interface Responder {
  respond(context: ContextTurn[]): Promise<GeneratedPair>;
  /** The live policy version now serving, or null while none is loaded. */
  liveVersion(): number | null;
}

export interface ServiceOptions {
  maxMessageChars: number;
  rateLimitPerMinute: number;
  /** Past exchanges (user + bot turns) given to the model as context. */
  contextTurns: number;
  allowVoteOnOwnPrompt: boolean;
  /** "platform:externalId" of people who may ask for the operator status. */
  admins: Set<string>;
  /** How long vote writes keep retrying through a database outage. */
  voteRetryMs: number;
  random?: () => number;
}

export const HELP_TEXT = [
  'I answer every message with two replies, A and B. Vote for the better one:',
  '🅰️ A is better · 🅱️ B is better · 🤝 tie · 👎 both bad (react again with another to change, remove it to withdraw).',
  'I learn from your votes. Commands: "help", "forget me" (deletes everything I stored about you), "opt out", "opt in", "status".',
].join('\n');

const UNAVAILABLE = "I'm briefly unavailable (my database is not answering). Please try again in a minute.";

export class ChatService implements ChatHandler {
  private readonly recent = new Map<string, number[]>();
  private readonly random: () => number;

  constructor(
    private readonly database: Database,
    private readonly responder: Responder,
    private readonly opts: ServiceOptions,
  ) {
    this.random = opts.random ?? Math.random;
  }

  async handleMessage(msg: IncomingMessage): Promise<ChatReply> {
    if (msg.user.isBot) return { kind: 'ignored', reason: 'messages from bot accounts are not answered' };
    const text = msg.text.trim();
    const problem = this.checkText(text);
    if (problem) return { kind: 'text', text: problem };
    try {
      const command = await this.runCommand(msg.user, text);
      if (command) return { kind: 'text', text: command };
      if (!this.allow(msg.user)) {
        return { kind: 'text', text: `You're sending messages faster than I can learn from them (limit ${this.opts.rateLimitPerMinute} a minute). Please wait a moment.` };
      }
      return await this.answer(msg, text);
    } catch (err) {
      if (isTransientDbError(err)) {
        log.warn('message not answered: database unavailable', { platform: msg.user.platform, err: (err as Error).message });
        return { kind: 'text', text: UNAVAILABLE };
      }
      throw err;
    }
  }

  /** Why the text is refused, or null. Text is stored exactly as received or not at all. */
  private checkText(text: string): string | null {
    if (text.length === 0) return 'Send me some text and I will answer with two replies. Say "help" to learn how voting works.';
    if (text.includes('\u0000')) return 'Your message contains a NUL character, which I cannot store. Please remove it and send again.';
    if (UNPAIRED_SURROGATE.test(text)) {
      return 'Your message contains a broken character (an unpaired UTF-16 surrogate). Please retype it and send again.';
    }
    if (text.length > this.opts.maxMessageChars) {
      return `Your message is ${text.length} characters long; the limit is ${this.opts.maxMessageChars}. Please send a shorter one.`;
    }
    return null;
  }

  private async runCommand(user: ChatUser, text: string): Promise<string | null> {
    const command = text.toLowerCase().replace(/^[/!]/, '').replace(/\s+/g, ' ');
    const db = this.database.db;
    switch (command) {
      case 'help':
        return HELP_TEXT;
      case 'forget me': {
        const result = await q.forgetUser(db, user.platform, user.externalId);
        return result.found
          ? `Done: I deleted ${result.prompts} of your messages with their replies, ${result.votes} of your votes, and your identity.`
          : 'I had nothing stored about you.';
      }
      case 'opt out':
        await q.setOptOut(db, user, true);
        return 'You have opted out: I will not answer or store your messages or votes. Say "opt in" to come back, or "forget me" to delete what I stored.';
      case 'opt in':
        await q.setOptOut(db, user, false);
        return 'Welcome back: I will answer you and learn from your votes again.';
      case 'status': {
        if (!this.isAdmin(user)) return 'Only the bot\'s admins can see its status.';
        const run = await q.lastRun(db);
        const live = this.responder.liveVersion();
        const runText = run ? `last learner run #${run.id} ${run.status} at ${(run.finishedAt ?? run.startedAt).toISOString()}` : 'no learner run yet';
        return `Live policy version: ${live ?? 'none loaded'}; ${runText}.`;
      }
      default:
        return null;
    }
  }

  private isAdmin(user: ChatUser): boolean {
    return Boolean(user.isAdmin) || this.opts.admins.has(`${user.platform}:${user.externalId}`);
  }

  /** A per-user sliding one-minute window, kept in this process. */
  private allow(user: ChatUser): boolean {
    const key = `${user.platform}:${user.externalId}`;
    const now = Date.now();
    const times = (this.recent.get(key) ?? []).filter((t) => now - t < 60_000);
    if (times.length >= this.opts.rateLimitPerMinute) {
      this.recent.set(key, times);
      return false;
    }
    times.push(now);
    this.recent.set(key, times);
    return true;
  }

  private async answer(msg: IncomingMessage, text: string): Promise<ChatReply> {
    const db = this.database.db;
    const platform = msg.user.platform;
    // A redelivered event is answered with what was stored for it, never sampled again.
    const existing = await q.findPromptByEvent(db, platform, msg.eventId);
    if (existing) return toReply(existing);
    const known = await q.findUser(db, platform, msg.user.externalId);
    if (known?.optedOutAt) return { kind: 'text', text: 'You have opted out, so I do not answer or store your messages. Say "opt in" to chat again.' };

    const conversationId = await q.conversationFor(db, platform, msg.channelId, msg.threadId);
    const history = await q.conversationHistory(db, conversationId, this.opts.contextTurns);
    const context: ContextTurn[] = [...history, { role: 'user', text }];
    const pair = await this.responder.respond(context);
    // Slot order is random per prompt, so position bias can be measured and never leaks into training.
    const slotsSwapped = this.random() < 0.5;
    const [first, second] = slotsSwapped ? [pair.replies[1], pair.replies[0]] : pair.replies;
    const stored = await q.recordPrompt(db, {
      user: msg.user,
      channelId: msg.channelId,
      threadId: msg.threadId,
      eventId: msg.eventId,
      userText: text,
      context,
      kind: pair.kind,
      slotsSwapped,
      candidates: [
        { slot: 'a', ...first },
        { slot: 'b', ...second },
      ],
    });
    if (!stored.duplicate) {
      metrics.replies.inc({ platform, kind: pair.kind });
      metrics.generationSeconds.observe(Math.max(...pair.replies.map((r) => r.latencyMs)) / 1000);
    }
    return toReply(stored);
  }

  async attachPlatformMessage(promptId: string, _platform: Platform, platformMessageId: string): Promise<void> {
    await retrying(() => q.attachPlatformMessage(this.database.db, promptId, platformMessageId), this.opts.voteRetryMs);
  }

  async handleReaction(reaction: IncomingReaction): Promise<VoteOutcome> {
    if (reaction.user.isBot) return { kind: 'ignored', reason: 'reactions from bot accounts are ignored' };
    // Votes are what the bot learns from: keep retrying through a database outage.
    return retrying(async () => {
      const db = this.database.db;
      // One statement each in the common case: reactions are the hot path.
      const voted =
        reaction.action === 'add'
          ? await q.voteOn(db, reaction.target, reaction.user, reaction.choice, { allowOwnPrompt: this.opts.allowVoteOnOwnPrompt })
          : await q.withdrawOn(db, reaction.target, reaction.user, reaction.anyChoice ? undefined : reaction.choice);
      if (!voted) return { kind: 'ignored', reason: UNKNOWN_PROMPT } as const;
      const { result, promptId } = voted;
      if (result.kind === 'stored') metrics.votes.inc({ platform: reaction.user.platform, choice: result.choice });
      if (result.kind === 'withdrawn') metrics.votes.inc({ platform: reaction.user.platform, choice: 'withdrawn' });
      return result.kind === 'ignored' ? result : { ...result, promptId };
    }, this.opts.voteRetryMs);
  }
}

function toReply(stored: q.StoredPrompt): ChatReply {
  const [a, b] = stored.candidates;
  return {
    kind: 'candidates',
    conversationId: stored.prompt.conversationId,
    promptId: stored.prompt.id,
    policyVersion: a.policyVersionId,
    candidates: [
      { slot: 'a', text: a.text },
      { slot: 'b', text: b.text },
    ],
  };
}
