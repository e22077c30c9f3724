// The local playground's adapter: the JSON API that the playground page (and scripts) call.
//   POST   /api/chat   { user, text, conversationId? }        -> { conversationId, promptId, policyVersion, candidates }
//   POST   /api/votes  { promptId, user, choice }             -> the stored vote
//   DELETE /api/votes  { promptId, user }                     -> the withdrawn vote
import { randomUUID } from 'node:crypto';
import { HttpError, readJson, sendJson, type Route } from '../web/http.ts';
import { UNKNOWN_PROMPT, UNPAIRED_SURROGATE, VOTE_CHOICES, type ChatHandler, type ChatUser, type VoteChoice } from './types.ts';

const MAX_NAME = 100;

function field(body: Record<string, unknown>, name: string, opts: { optional?: boolean; max?: number } = {}): string | undefined {
  const value = body[name];
  if (value === undefined || value === null) {
    if (opts.optional) return undefined;
    throw new HttpError(400, `${name} is required`, name);
  }
  if (typeof value !== 'string') throw new HttpError(400, `${name} must be a string`, name);
  if (opts.max !== undefined) {
    if (value.trim().length === 0 || value.length > opts.max) throw new HttpError(400, `${name} must be 1 to ${opts.max} characters`, name);
    // Names and ids are stored as given: PostgreSQL refuses NUL, and would silently turn a broken
    // character into U+FFFD, so that two different names became one person.
    if (value.includes('\u0000') || UNPAIRED_SURROGATE.test(value)) throw new HttpError(400, `${name} must not contain NUL or broken (unpaired UTF-16 surrogate) characters`, name);
  }
  return value;
}

function webUser(body: Record<string, unknown>): ChatUser {
  const name = field(body, 'user', { max: MAX_NAME })!;
  return { platform: 'web', externalId: name, displayName: name, isBot: false };
}

export function playgroundRoutes(handler: ChatHandler): Route[] {
  return [
    {
      method: 'POST',
      path: '/api/chat',
      async handler(req, res) {
        const body = await readJson(req);
        const user = webUser(body);
        const text = field(body, 'text')!;
        const conversationId = field(body, 'conversationId', { optional: true, max: MAX_NAME }) ?? randomUUID();
        const reply = await handler.handleMessage({ user, channelId: conversationId, eventId: randomUUID(), text });
        if (reply.kind === 'candidates') {
          sendJson(res, 200, { conversationId, promptId: reply.promptId, policyVersion: reply.policyVersion, candidates: reply.candidates });
        } else if (reply.kind === 'text') {
          // Commands, refusals and notices are answers too: the page shows them as a bot message.
          sendJson(res, 200, { conversationId, message: reply.text });
        } else {
          throw new HttpError(400, reply.reason);
        }
      },
    },
    {
      method: 'POST',
      path: '/api/votes',
      async handler(req, res) {
        const body = await readJson(req);
        const promptId = field(body, 'promptId', { max: 64 })!;
        const user = webUser(body);
        const choice = field(body, 'choice')!;
        if (!VOTE_CHOICES.includes(choice as VoteChoice)) throw new HttpError(400, `choice must be one of ${VOTE_CHOICES.join(', ')}`, 'choice');
        const outcome = await handler.handleReaction({ user, target: { promptId }, choice: choice as VoteChoice, action: 'add' });
        if (outcome.kind === 'ignored') throw new HttpError(outcome.reason === UNKNOWN_PROMPT ? 404 : 409, outcome.reason, 'promptId');
        sendJson(res, 200, { promptId, user: user.externalId, choice, status: 'stored' });
      },
    },
    {
      method: 'DELETE',
      path: '/api/votes',
      async handler(req, res) {
        const body = await readJson(req);
        const promptId = field(body, 'promptId', { max: 64 })!;
        const user = webUser(body);
        const outcome = await handler.handleReaction({ user, target: { promptId }, choice: 'a', action: 'remove', anyChoice: true });
        if (outcome.kind === 'ignored') throw new HttpError(404, outcome.reason, 'promptId');
        sendJson(res, 200, { promptId, user: user.externalId, status: 'withdrawn' });
      },
    },
  ];
}
