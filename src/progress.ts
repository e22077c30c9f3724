// Progress of long terminal work: a bar on a terminal, a log line every 10% otherwise.
import cliProgress from 'cli-progress';
import { log } from './log.ts';

export interface Progress {
  update(done: number, total: number, loss?: number): void;
  stop(): void;
}

export function progressReporter(label: string): Progress {
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      { format: `${label.padEnd(9)} [{bar}] {percentage}% | {value}/{total} | loss {loss} | eta {eta}s`, stream: process.stderr, hideCursor: true },
      cliProgress.Presets.shades_classic,
    );
    let started = false;
    return {
      update(done, total, loss) {
        if (!started) bar.start(total, 0, { loss: '-' });
        started = true;
        bar.update(done, { loss: loss === undefined ? '-' : loss.toFixed(3) });
      },
      stop: () => started && bar.stop(),
    };
  }
  let lastTenth = -1;
  return {
    update(done, total, loss) {
      const tenth = Math.floor((10 * done) / total);
      if (tenth !== lastTenth) log.info(label, { step: done, of: total, ...(loss === undefined ? {} : { loss: Number(loss.toFixed(4)) }) });
      lastTenth = tenth;
    },
    stop() {},
  };
}
