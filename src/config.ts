// Every setting Pairwise reads from the environment (and an optional .env), validated once at
// start-up. The README's configuration table lists the same names; keep the two in step.
import { z } from 'zod';
import { addSecret } from './log.ts';

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const share = z.coerce.number().min(0).max(1);
const optionalText = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));
const url = optionalText.refine((v) => v === undefined || /^[a-z][a-z0-9+.-]*:\/\//i.test(v), {
  message: 'must be a URL such as https://host:port/path',
});
const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'])
  .transform((v) => ['true', '1', 'yes', 'on'].includes(v));

const schema = z.object({
  DATABASE_URL: optionalText.refine((v) => v === undefined || /^postgres(ql)?:\/\//.test(v), {
    message: 'must start with postgres:// or postgresql:// (unset it to use the embedded database)',
  }),
  PAIRWISE_DATA_DIR: z.string().default('./data'),
  HOST: z.string().default('127.0.0.1'),
  PORT: int(0, 65535).default(3000),
  PAIRWISE_BACKEND: z.enum(['node-gpu', 'node', 'wasm', 'cpu']).optional(),
  // Read where the workers start (learn/parallel.ts trainWorkerCount); checked here so a bad value stops start-up.
  TRAIN_WORKERS: int(1, 1024).optional(),
  MODEL_SIZE: z.enum(['tiny', 'small']).default('small'),
  CORPUS_PATH: z.string().default('data/corpus.jsonl'),

  MAX_MESSAGE_CHARS: int(1, 100_000).default(2000),
  RATE_LIMIT_PER_MINUTE: int(1, 10_000).default(12),
  CONTEXT_TURNS: int(1, 100).default(6),
  TEMPERATURE: z.coerce.number().gt(0).max(5).default(1),
  TOP_P: z.coerce.number().gt(0).max(1).default(0.95),
  MAX_NEW_TOKENS: int(1, 512).default(48),
  EVAL_SHARE: share.default(0.1),
  ADMIN_USERS: optionalText,
  VOTE_OWN_PROMPTS: bool.default(true),
  FILTER_BLOCKLIST_FILE: optionalText,

  LEARNER_CRON: z.string().default('*/15 * * * *'),
  LEARNER_MIN_PAIRS: int(1, 1_000_000).default(16),
  LEARNER_MAX_PAIRS: int(1, 1_000_000).default(1000),
  LEARNER_MAX_VOTES_PER_USER: int(1, 1_000_000).default(50),
  LEARNER_ALGORITHM: z.enum(['ppo', 'dpo']).default('ppo'),
  LEARNER_IN_PROCESS: bool.optional(),
  STAGED_ROLLOUT: bool.default(false),
  CHALLENGER_SHARE: share.default(0.3),
  ROLLOUT_MIN_VOTES: int(1, 1_000_000).default(30),
  ROLLOUT_FLOOR: share.default(0.4),
  AUTO_ROLLBACK: bool.default(false),

  DISCORD_TOKEN: optionalText,
  DISCORD_API_URL: url,
  SLACK_BOT_TOKEN: optionalText,
  SLACK_SIGNING_SECRET: optionalText,
  SLACK_APP_TOKEN: optionalText,
  SLACK_API_URL: url,
  DASHBOARD_TOKEN: optionalText,
});

export type Config = z.infer<typeof schema>;

export class ConfigError extends Error {}

/** Parses the environment; throws one ConfigError listing every bad value with what to do. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const result = schema.safeParse(env);
  if (!result.success) {
    const lines = result.error.issues.map((i) => {
      const key = String(i.path[0]);
      const got = env[key];
      return `${key}: ${i.message}${got !== undefined && !key.includes('TOKEN') && !key.includes('SECRET') ? ` (got "${got}")` : ''}`;
    });
    throw new ConfigError(`Invalid configuration, fix these settings: ${lines.join('; ')}`);
  }
  const config = result.data;
  if (config.SLACK_BOT_TOKEN && !config.SLACK_APP_TOKEN && !config.SLACK_SIGNING_SECRET) {
    throw new ConfigError(
      'Invalid configuration: SLACK_BOT_TOKEN is set but neither SLACK_APP_TOKEN (Socket Mode) nor SLACK_SIGNING_SECRET (Events API) is: set one of them',
    );
  }
  for (const secret of [config.DISCORD_TOKEN, config.SLACK_BOT_TOKEN, config.SLACK_SIGNING_SECRET, config.SLACK_APP_TOKEN, config.DASHBOARD_TOKEN]) {
    addSecret(secret);
  }
  if (config.DATABASE_URL) {
    try {
      addSecret(decodeURIComponent(new URL(config.DATABASE_URL).password));
    } catch {
      // An unparsable URL fails later with its own message; nothing to register.
    }
  }
  return config;
}
