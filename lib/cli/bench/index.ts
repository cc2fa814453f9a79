// `resnet-node bench <suite>`: benchmark suites print a table (or JSON lines) with ours/baseline ratios.
import { formatHelp, parseOptions } from '../args.js';
import { printRows } from './report.js';

const options = {
  json: { type: 'boolean', default: false, help: 'print one JSON line per row' },
  iterations: { type: 'integer', default: 10, min: 1, help: 'timed iterations per row (after warm-up)' },
  only: { type: 'string', default: '', help: 'run only rows whose name contains this text' },
  layout: {
    type: 'string',
    default: 'blocked',
    choices: ['blocked', 'nchw'],
    help: "our CPU activations' layout (ops, train): blocked = nChw16c, as training programs keep them; nchw = row-major",
  },
  help: { type: 'boolean', default: false, help: 'show this help' },
} as const;

const suites: Record<string, { summary: string; load: () => Promise<BenchSuite> }> = {
  ops: {
    summary: 'conv2d fwd/bwd and batch norm at ResNet-50 and CIFAR shapes vs PyTorch CPU',
    load: async () => (await import('./ops.js')).benchOps,
  },
  train: {
    summary: 'training img/s of CIFAR ResNet-20/56 (batch 128) and ResNet-50 (batch 16) vs PyTorch CPU',
    load: async () => (await import('./train.js')).benchTrain,
  },
  data: {
    summary: 'folder-loader training transforms (img/s) on 500×375 JPEGs vs a PyTorch DataLoader with PIL, 2 workers',
    load: async () => (await import('./data.js')).benchData,
  },
};

export interface BenchOptions {
  json: boolean;
  iterations?: number;
  only?: string;
  /** Our CPU activations' memory layout (ops and train suites); default blocked. */
  layout?: 'blocked' | 'nchw';
}

export type BenchSuite = (options: BenchOptions) => Promise<BenchRow[]>;

export interface BenchRow {
  name: string;
  ours: number;
  baseline: number | null;
  unit: string;
  ratio: number | null;
}

export async function bench(argv: readonly string[]): Promise<number> {
  const { options: opts, positionals } = parseOptions(argv, options, 'bench');
  const suiteName = positionals[0];
  const suite = suiteName ? suites[suiteName] : undefined;
  if (opts.help || !suite) {
    const list = Object.entries(suites).map(([n, s]) => `  ${n.padEnd(8)}${s.summary}`).join('\n');
    console.log(formatHelp('bench', `Suites:\n${list}`, options, 'bench <suite> [options]'));
    if (!opts.help && suiteName) {
      console.error(`resnet-node bench: unknown suite '${suiteName}'`);
      return 2;
    }
    return opts.help ? 0 : 2;
  }
  const run = await suite.load();
  const rows = await run({ json: opts.json, iterations: opts.iterations, only: opts.only || undefined, layout: opts.layout as 'blocked' | 'nchw' });
  printRows(rows, opts.json);
  return 0;
}
