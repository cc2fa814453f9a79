// Progress reporting for a Trainer: a live bar on a TTY, plain lines otherwise, JSON lines for machines.
import type { Trainer } from './trainer.js';

export type ProgressMode = 'tty' | 'lines' | 'json' | 'quiet';

function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  return s >= 3600 ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m` : s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

/** Wires `trainer`'s events to stdout/stderr in the given mode. */
export function attachProgress(trainer: Trainer, mode: ProgressMode, out: NodeJS.WriteStream = process.stdout, err: NodeJS.WriteStream = process.stderr): void {
  if (mode === 'json') {
    const line = (event: string) => (payload: object) => out.write(`${JSON.stringify({ event, ...payload })}\n`);
    for (const event of ['start', 'epoch', 'validation', 'checkpoint', 'skip', 'end'] as const) trainer.on(event, line(event));
    return;
  }
  if (mode === 'quiet') {
    trainer.on('end', (e) => out.write(`test top-1 error ${e.testTop1.toFixed(2)}%  top-5 ${e.testTop5.toFixed(2)}%\n`));
    return;
  }
  trainer.on('start', (e) =>
    out.write(`training ${e.epochs - e.startEpoch + 1} epoch(s) from epoch ${e.startEpoch} on ${e.device}: ${e.params.toLocaleString('en-US')} parameters, ${e.trainImages} training / ${e.testImages} test images, ${e.batchesPerEpoch} batches per epoch\n`),
  );
  if (mode === 'tty') {
    let lastDraw = 0;
    trainer.on('batch', (e) => {
      const now = Date.now();
      if (now - lastDraw < 100 && e.batch < e.batches) return;
      lastDraw = now;
      const width = 24;
      const filled = Math.round((width * e.batch) / e.batches);
      const bar = '█'.repeat(filled) + '░'.repeat(width - filled);
      err.write(
        `\r\x1b[2Kepoch ${e.epoch} ${bar} ${e.batch}/${e.batches}  loss ${e.loss.toFixed(3)}  top-1 ${e.top1.toFixed(1)}%  lr ${e.lr.toPrecision(3)}  ${e.imagesPerSec.toFixed(0)} img/s  ETA ${duration(e.etaSec)}`,
      );
    });
    trainer.on('epoch', () => err.write('\r\x1b[2K'));
  }
  trainer.on('skip', (e) => err.write(`${mode === 'tty' ? '\r\x1b[2K' : ''}skipped ${e.path}: ${e.reason}\n`));
  trainer.on('epoch', (e) =>
    out.write(`epoch ${e.epoch}${e.skipped ? `  (${e.skipped} unreadable file(s) skipped)` : ''}  train loss ${e.trainLoss.toFixed(4)}  top-1 ${e.trainTop1.toFixed(2)}%  top-5 ${e.trainTop5.toFixed(2)}%  lr ${e.lr.toPrecision(3)}  ${e.imagesPerSec.toFixed(0)} img/s  ${duration(e.seconds)}\n`),
  );
  trainer.on('validation', (e) =>
    out.write(`epoch ${e.epoch}  test  loss ${e.loss.toFixed(4)}  top-1 ${e.top1.toFixed(2)}%  top-5 ${e.top5.toFixed(2)}%${e.best ? '  (best)' : ''}\n`),
  );
  trainer.on('checkpoint', (e) => out.write(`epoch ${e.epoch}  saved ${e.path}${e.best ? ' (and model_best)' : ''}\n`));
  trainer.on('end', (e) =>
    out.write(`done in ${duration(e.seconds)}: test top-1 error ${e.testTop1.toFixed(2)}%, top-5 ${e.testTop5.toFixed(2)}% (best top-1 ${e.bestTop1?.toFixed(2) ?? '—'}% at epoch ${e.bestEpoch ?? '—'})\n`),
  );
}
