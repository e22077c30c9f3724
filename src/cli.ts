// The one command-line entry: `pairwise <command>`. Each command lives in its own module and is
// loaded on demand, so `pairwise status` does not pay for TensorFlow.js.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import dotenv from 'dotenv';
import { ConfigError, loadConfig, type Config } from './config.ts';
import { log, redact } from './log.ts';

dotenv.config({ quiet: true });

type Values = Record<string, string | boolean | undefined>;
interface Command {
  summary: string;
  usage: string;
  options?: ParseArgsConfig['options'];
  run(config: Config, values: Values, positionals: string[]): Promise<number | void>;
}

const json = { json: { type: 'boolean' } } as const;

const COMMANDS: Record<string, Command> = {
  start: {
    summary: 'run the bot: playground, dashboard, Discord and Slack as configured (and the learner, on the embedded database)',
    usage: 'pairwise start',
    run: async (config) => (await import('./app.ts')).runApp(config),
  },
  learner: {
    summary: 'run the learner on its schedule (LEARNER_CRON)',
    usage: 'pairwise learner',
    run: async (config) => (await import('./learn/schedule.ts')).runLearnerCommand(config),
  },
  learn: {
    summary: 'run one learner cycle and exit (0 on success or a clean skip)',
    usage: 'pairwise learn --once [--json]',
    options: { once: { type: 'boolean' }, ...json },
    run: async (config, values) => {
      if (!values.once) throw new ConfigError('`pairwise learn` needs --once (use `pairwise learner` for the schedule)');
      return (await import('./learn/schedule.ts')).learnOnceCommand(config, Boolean(values.json));
    },
  },
  bootstrap: {
    summary: 'train the first policy on the corpus (CORPUS_PATH) and make it live if none is',
    usage: 'pairwise bootstrap [--corpus FILE] [--force]',
    options: { corpus: { type: 'string' }, force: { type: 'boolean' } },
    run: async (config, values) => (await import('./learn/bootstrap.ts')).bootstrapCommand(config, values),
  },
  generate: {
    summary: 'print the live policy\'s two candidates for one message',
    usage: 'pairwise generate "hello"',
    run: async (config, _values, positionals) => (await import('./model/live-policy.ts')).generateCommand(config, positionals.join(' ')),
  },
  migrate: {
    summary: 'apply database migrations and exit',
    usage: 'pairwise migrate',
    run: async (config) => {
      const { openConfiguredDatabase } = await import('./db/client.ts');
      const database = await openConfiguredDatabase(config);
      console.log(`database at ${database.where} is up to date`);
      await database.close();
    },
  },
  status: {
    summary: 'a short health summary: database, live version, last run, votes since',
    usage: 'pairwise status [--json]',
    options: json,
    run: async (config, values) => (await import('./status.ts')).statusCommand(config, Boolean(values.json)),
  },
  policy: {
    summary: 'list policy versions, roll back, promote or retire a challenger',
    usage: 'pairwise policy list | rollback [VERSION] | promote VERSION | retire VERSION',
    options: json,
    run: async (config, values, positionals) => (await import('./policy-admin.ts')).policyCommand(config, positionals, Boolean(values.json)),
  },
  export: {
    summary: 'write the preference pairs people voted for as JSONL (HH-RLHF or TRL format; imported pairs are not exported)',
    usage: 'pairwise export [--format hh|trl] [--out FILE] [--since DATE] [--platform NAME] [--with-users]',
    options: { format: { type: 'string' }, out: { type: 'string' }, since: { type: 'string' }, platform: { type: 'string' }, 'with-users': { type: 'boolean' } },
    run: async (config, values) => (await import('./data/export.ts')).exportCommand(config, values),
  },
  import: {
    summary: 'read preference pairs from a JSONL file (HH-RLHF or TRL format)',
    usage: 'pairwise import FILE [--format hh|trl] [--skip-bad]',
    options: { format: { type: 'string' }, 'skip-bad': { type: 'boolean' } },
    run: async (config, values, positionals) => (await import('./data/import.ts')).importCommand(config, positionals, values),
  },
  'eval-rm': {
    summary: 'score a preference file with the current reward model and print its accuracy',
    usage: 'pairwise eval-rm FILE [--format hh|trl] [--json]',
    options: { format: { type: 'string' }, ...json },
    run: async (config, values, positionals) => (await import('./data/eval-rm.ts')).evalRmCommand(config, positionals, values),
  },
  simulate: {
    summary: 'run the whole loop with simulated users who vote by a hidden rule',
    usage: 'pairwise simulate [--rule shorter|words|question] [--votes N] [--rounds N] [--noise P] [--json]',
    options: {
      rule: { type: 'string' },
      votes: { type: 'string' },
      rounds: { type: 'string' },
      noise: { type: 'string' },
      seed: { type: 'string' },
      ...json,
    },
    run: async (config, values) => (await import('./learn/simulate.ts')).simulateCommand(config, values),
  },
};

function help(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length));
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return `usage: pairwise <command> [options]\n\ncommands:\n${lines.join('\n')}\n\nSettings come from the environment or .env; see README.md.`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === 'help' || name === '--help' || name === '-h') {
    console.log(help());
    return 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    console.error(`pairwise: unknown command "${name}"; run \`pairwise help\` for the list`);
    return 2;
  }
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: command.options ?? {}, allowPositionals: true, strict: true });
  } catch (err) {
    console.error(`pairwise ${name}: ${(err as Error).message}; usage: ${command.usage}`);
    return 2;
  }
  const config = loadConfig();
  const code = await command.run(config, parsed.values as Values, parsed.positionals);
  return typeof code === 'number' ? code : 0;
}

/** Runs the CLI and exits: a failure prints one line that says what to do (the stack with LOG_LEVEL=debug). */
export function runCli(argv: string[]): void {
  main(argv).then(
    (code) => {
      process.exitCode = code;
    },
    (err: Error) => {
      console.error(`pairwise: ${redact(err.message)}`);
      log.debug('stack', { err });
      process.exit(1);
    },
  );
}
