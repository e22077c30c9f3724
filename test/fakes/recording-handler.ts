// A ChatHandler for adapter tests: records every call and answers like a minimal service, so the
// tests check the adapter's translation without models or a database.

import {
  UNKNOWN_PROMPT,
  type ChatHandler,
  type ChatReply,
  type IncomingMessage,
  type IncomingReaction,
  type Platform,
  type VoteOutcome,
} from '../../src/chat/types.ts';

export interface Attachment {
  promptId: string;
  platform: Platform;
  platformMessageId: string;
}

export class RecordingHandler implements ChatHandler {
  readonly messages: IncomingMessage[] = [];
  readonly attached: Attachment[] = [];
  readonly reactions: Array<IncomingReaction & { outcome: VoteOutcome }> = [];
  /** What handleMessage answers; by default two candidates that quote the message. */
  reply: (msg: IncomingMessage) => ChatReply = (msg) => ({
    kind: 'candidates',
    conversationId: `conv-${msg.channelId}`,
    promptId: `prompt-${this.messages.length}`,
    policyVersion: 1,
    candidates: [
      { slot: 'a', text: `A says: ${msg.text}` },
      { slot: 'b', text: `B says: ${msg.text}` },
    ],
  });

  async handleMessage(msg: IncomingMessage): Promise<ChatReply> {
    this.messages.push(msg);
    return this.reply(msg);
  }

  async attachPlatformMessage(promptId: string, platform: Platform, platformMessageId: string): Promise<void> {
    this.attached.push({ promptId, platform, platformMessageId });
  }

  async handleReaction(reaction: IncomingReaction): Promise<VoteOutcome> {
    const target = reaction.target;
    const attachment =
      'promptId' in target
        ? { promptId: target.promptId }
        : this.attached.find((a) => a.platform === target.platform && a.platformMessageId === target.platformMessageId);
    const outcome: VoteOutcome = !attachment
      ? { kind: 'ignored', reason: UNKNOWN_PROMPT }
      : reaction.action === 'add'
        ? { kind: 'stored', promptId: attachment.promptId, choice: reaction.choice }
        : { kind: 'withdrawn', promptId: attachment.promptId };
    this.reactions.push({ ...reaction, outcome });
    return outcome;
  }
}
