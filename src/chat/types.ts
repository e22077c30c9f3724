// The contract between platform adapters and the platform-neutral chat service.
// Adapters translate platform events into these shapes; they know nothing of models.

export type Platform = 'discord' | 'slack' | 'web';
export type VoteChoice = 'a' | 'b' | 'tie' | 'both_bad';
export const VOTE_CHOICES: readonly VoteChoice[] = ['a', 'b', 'tie', 'both_bad'];

export interface ChatUser {
  platform: Platform;
  /** The platform's own id for the person (Discord user id, Slack user id, playground name). */
  externalId: string;
  displayName?: string;
  /** Bot and app accounts never get answers and never vote. */
  isBot: boolean;
  /** Platform admins may see the live policy version and the last learner run. */
  isAdmin?: boolean;
}

export interface IncomingMessage {
  user: ChatUser;
  /** Channel, DM or Slack channel id: the conversation is (platform, channelId, threadId). */
  channelId: string;
  /** Thread (Slack thread_ts, Discord thread channel); null for a plain channel or DM. */
  threadId?: string | null;
  /** The platform's id of the message, so a redelivered event is answered once. */
  eventId: string;
  text: string;
}

export interface Candidate {
  slot: 'a' | 'b';
  text: string;
}

export type ChatReply =
  | {
      kind: 'candidates';
      conversationId: string;
      promptId: string;
      policyVersion: number;
      candidates: [Candidate, Candidate];
    }
  /** A command answer, a rate-limit notice or an "unavailable" notice: post it as plain text. */
  | { kind: 'text'; text: string }
  /** Nothing to post (a message from a bot account). */
  | { kind: 'ignored'; reason: string };

export interface IncomingReaction {
  user: ChatUser;
  /** Either the prompt id (playground) or the platform id of the bot's posted candidates message. */
  target: { promptId: string } | { platform: Platform; platformMessageId: string };
  choice: VoteChoice;
  action: 'add' | 'remove';
  /** With 'remove': withdraw the live vote whatever its choice (the playground's withdraw button). */
  anyChoice?: boolean;
}

/** A UTF-16 surrogate without its other half: not a character, so no text or name may hold one. */
export const UNPAIRED_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** The reason given when a reaction's target is not a message with candidates. */
export const UNKNOWN_PROMPT = 'that message is not a pair of candidates';

export type VoteOutcome =
  | { kind: 'stored'; promptId: string; choice: VoteChoice }
  | { kind: 'withdrawn'; promptId: string }
  | { kind: 'ignored'; reason: string };

/** What every adapter calls. Implemented by ChatService in src/chat/service.ts. */
export interface ChatHandler {
  handleMessage(msg: IncomingMessage): Promise<ChatReply>;
  /** Records where the candidates were posted, so reactions on that message find the prompt. */
  attachPlatformMessage(promptId: string, platform: Platform, platformMessageId: string): Promise<void>;
  handleReaction(reaction: IncomingReaction): Promise<VoteOutcome>;
}

/** A running adapter: started by `pairwise start`, stopped on shutdown. */
export interface Adapter {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}
