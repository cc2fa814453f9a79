// GPU check: the one table — the machine, (a) ops, (a') NCCL, (b) training parity with PyTorch, (c) training throughput and
// peak memory against PyTorch — from the JSON that check.sh collected in DIR (ops.json, nccl.jsonl, parity.jsonl, bench.jsonl).
// Usage: node report.js DIR [PARITY_RUNS BENCH_RUNS]   (exit status 1 when a part failed or is missing)
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { doctorReport } from '../../lib/cli/doctor.js';

interface OpsFile {
  tolerance: number;
  rows: { name: string; relativeError: number; integerMismatches: number; ok: boolean; error?: string }[];
  uncovered: string[];
}

interface ParityRow {
  model: string;
  batch: number;
  steps: number;
  ok: boolean;
  lossesOurs: number[];
  lossesTorch32: number[];
  [key: string]: unknown;
}

interface BenchRow {
  impl: 'resnet-node' | 'pytorch';
  model: string;
  batch: number;
  imagesPerSec: number;
  firstStepSeconds: number;
  peakAllocatedBytes: number | null;
  peakReservedBytes: number | null;
}

function jsonLines<T>(path: string): T[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line.trim().startsWith('{'))
    .map((line) => JSON.parse(line) as T);
}

const mib = (bytes: number | null) => (bytes === null ? '—' : `${Math.round(bytes / 2 ** 20)}`);
const sci = (x: unknown) => (typeof x === 'number' ? x.toExponential(1) : '—');

function machine(): string[] {
  const report = doctorReport();
  const cuda = report.cuda;
  const gpu = cuda.devices[0];
  return [
    `GPU check: ${gpu ? `${gpu.name} (compute capability ${gpu.computeCapability}, ${Math.round(gpu.memoryBytes / 2 ** 30)} GiB)` : 'no GPU'}; ` +
      `driver ${cuda.driver ?? '—'}, CUDA runtime ${cuda.runtime ?? '—'}, cuDNN ${cuda.cudnn ?? '—'}, cuBLAS ${cuda.cublas ?? '—'}, NCCL ${cuda.nccl ?? '—'}`,
    ...(cuda.available ? [] : [`  CUDA unavailable: ${cuda.reason}`]),
  ];
}

function opsSection(dir: string): { lines: string[]; ok: boolean } {
  const path = join(dir, 'ops.json');
  if (!existsSync(path)) return { lines: ['(a) ops: no result (ops.json missing: see the log above)'], ok: false };
  const ops = JSON.parse(readFileSync(path, 'utf8')) as OpsFile;
  const failed = ops.rows.filter((r) => !r.ok);
  const worst = [...ops.rows].filter((r) => Number.isFinite(r.relativeError)).sort((a, b) => b.relativeError - a.relativeError)[0];
  const lines = [
    `(a) ops against the CPU on the same inputs: ${ops.rows.length - failed.length}/${ops.rows.length} cases within ${ops.tolerance} ` +
      `(integer outputs exact); worst ${worst ? `${sci(worst.relativeError)} (${worst.name})` : '—'}`,
    ...failed.map((r) => `    FAIL ${r.name}: ${r.error ?? `relative error ${sci(r.relativeError)}, ${r.integerMismatches} integer mismatches`}`),
    ...(ops.uncovered.length ? [`    not checked: ${ops.uncovered.join(', ')}`] : []),
  ];
  return { lines, ok: failed.length === 0 && ops.uncovered.length === 0 };
}

function paritySection(dir: string, expected: number): { lines: string[]; ok: boolean } {
  const rows = jsonLines<ParityRow>(join(dir, 'parity.jsonl'));
  const lines = [
    '(b) 3 SGD steps from the same weights and batches, TF32 off: worst normwise error vs PyTorch float64 (PyTorch float32\'s own in brackets);',
    '    a tensor fails when ours is further from float64 than max(1e-3, 4 × PyTorch float32\'s); "vs f32": ours against PyTorch float32',
    '    directly: loss, weights per tensor (worst), weights over the whole model',
    `    ${'model'.padEnd(14)} ${'loss'.padEnd(19)} ${'weights'.padEnd(19)} ${'BN stats'.padEnd(19)} ${'gradients'.padEnd(19)} ${'vs f32'.padEnd(26)} result`,
  ];
  for (const r of rows) {
    const cell = (kind: string) => `${sci(r[`${kind}Error`])} (${sci(r[`${kind}TorchError`])})`.padEnd(19);
    const failing = ['loss', 'weights', 'buffers', 'grads'].flatMap((k) => (r[`${k}Failing`] as string[] | undefined) ?? []);
    lines.push(
      `    ${`${r.model} b${r.batch}`.padEnd(14)} ${cell('loss')} ${cell('weights')} ${cell('buffers')} ${cell('grads')} ` +
        `${`${sci(r.lossVsTorch32)}/${sci(r.weightsVsTorch32)}/${sci(r.weightsVsTorch32Model)}`.padEnd(26)} ` +
        `${r.ok ? 'ok' : `FAIL: ${failing.slice(0, 4).join(', ')}${failing.length > 4 ? ' …' : ''}`}`,
      `    ${''.padEnd(14)} losses ours ${r.lossesOurs.map((l) => l.toFixed(5)).join(' ')} · PyTorch ${r.lossesTorch32.map((l) => l.toFixed(5)).join(' ')}`,
    );
  }
  if (rows.length === 0) lines.push('    no result (parity.jsonl missing: see the log above)');
  return { lines, ok: rows.length === expected && rows.every((r) => r.ok) };
}

function benchSection(dir: string, expected: number): { lines: string[]; ok: boolean } {
  const rows = jsonLines<BenchRow>(join(dir, 'bench.jsonl'));
  const lines = [
    '(c) training, img/s (median step; each step copies its batch from host memory) and peak device memory, MiB allocated/reserved',
    `    ${'model'.padEnd(16)} ${'ours'.padStart(8)} ${'PyTorch'.padStart(8)} ${'ratio'.padStart(6)}   ${'ours MiB'.padStart(13)} ${'PyTorch MiB'.padStart(13)}   first step s (ours/PyTorch)`,
  ];
  const keys = [...new Set(rows.map((r) => `${r.model} b${r.batch}`))];
  for (const key of keys) {
    const ours = rows.find((r) => r.impl === 'resnet-node' && `${r.model} b${r.batch}` === key);
    const torch = rows.find((r) => r.impl === 'pytorch' && `${r.model} b${r.batch}` === key);
    const rate = (r?: BenchRow) => (r ? r.imagesPerSec.toFixed(0) : '—');
    const memory = (r?: BenchRow) => (r ? `${mib(r.peakAllocatedBytes)}/${mib(r.peakReservedBytes)}` : '—');
    const ratio = ours && torch ? (ours.imagesPerSec / torch.imagesPerSec).toFixed(2) : '—';
    const first = `${ours ? ours.firstStepSeconds.toFixed(1) : '—'}/${torch ? torch.firstStepSeconds.toFixed(1) : '—'}`;
    lines.push(`    ${key.padEnd(16)} ${rate(ours).padStart(8)} ${rate(torch).padStart(8)} ${ratio.padStart(6)}   ${memory(ours).padStart(13)} ${memory(torch).padStart(13)}   ${first}`);
  }
  if (rows.length === 0) lines.push('    no result (bench.jsonl missing: see the log above)');
  return { lines, ok: rows.filter((r) => r.impl === 'resnet-node').length === expected };
}

interface NcclRow {
  check: string;
  ok: boolean;
  devices?: string[];
  relativeError?: number;
  ncclAllreduceMs?: number;
  accumulateMs?: number;
  processes?: number;
  outcome?: string;
  nccl?: string | null;
  error?: string;
  ranks?: { rank: number; relativeError?: number; allreduceMs?: number; accumulateMs?: number; joinMs?: number; message?: string }[];
  [key: string]: unknown;
}

const ms = (x: unknown) => (typeof x === 'number' ? x.toFixed(2) : '—');

/** (a') nccl.js's one-process rows and (a'') nccl-procs.js's rows from nccl.jsonl. */
function ncclSection(dir: string): { lines: string[]; ok: boolean } {
  const rows = jsonLines<NcclRow>(join(dir, 'nccl.jsonl'));
  const lines: string[] = [];
  const correct = rows.find((r) => r.check === 'nccl allreduce correctness');
  const timed = rows.find((r) => r.check === 'nccl allreduce time');
  if (correct || timed) {
    lines.push(
      `(a') NCCL in one process, ${correct?.devices?.length ?? 1} rank(s): weighted all-reduce ${correct?.ok ? 'ok' : 'FAIL'} (relative error ${sci(correct?.relativeError)}); ` +
        `25.6 M floats ${ms(timed?.ncclAllreduceMs)} ms (accumulate of the same: ${ms(timed?.accumulateMs)} ms)`,
    );
  }
  for (const r of rows.filter((row) => row.check === 'nccl across processes')) {
    const first = r.ranks?.[0];
    lines.push(
      `(a'') ${r.devices?.[0]?.startsWith('cpu') ? 'Gloo' : 'NCCL'} across ${r.processes} process(es) on ${r.devices?.join(', ')}: ${r.outcome}` +
        (first?.allreduceMs !== undefined
          ? `; relative error ${sci(Math.max(...(r.ranks ?? []).map((k) => k.relativeError ?? Infinity)))}, 25.6 M floats ${ms(first.allreduceMs)} ms (accumulate ${ms(first.accumulateMs)} ms), join ${ms(first.joinMs)} ms`
          : first?.message
            ? `: ${first.message.slice(0, 300)}`
            : ''),
    );
  }
  const parity = rows.find((r) => r.check === 'replicas on one GPU: parity');
  const copy = rows.find((r) => r.check === 'replicas on one GPU: allreduce time');
  const rate = rows.find((r) => r.check === 'replicas on one GPU: throughput');
  const failedReplicas = rows.find((r) => r.check === 'replicas on one GPU');
  if (parity || failedReplicas) {
    const devices = (parity ?? failedReplicas)?.devices?.join(', ');
    lines.push(
      failedReplicas
        ? `(a''') replicas on ${devices}: FAIL: ${failedReplicas.error}: ${String(failedReplicas.message).slice(0, 300)}`
        : `(a''') replicas on ${devices} (copy-based in-process all-reduce), 3 steps with SyncBN vs 1 replica, ${parity!.model} b${parity!.batch}: ` +
            `${parity!.ok ? 'ok' : 'FAIL'} (loss ${sci(parity!.lossError)}, params ${sci(parity!.paramsError)}, replicas ${parity!.replicasIdentical ? 'bit-identical' : 'DIFFER'})`,
    );
    if (copy) lines.push(`      all-reduce of ${((copy.floats as number) / 1e6).toFixed(1)} M floats over them ${ms(copy.copyAllreduceMs)} ms (accumulate ${ms(copy.accumulateMs)} ms)`);
    if (rate) {
      const r = rate.imagesPerSec as Record<string, number>;
      lines.push(`      ${rate.model} b${rate.batch} img/s: ${Object.entries(r).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(', ')}`);
    }
  }
  if (rows.length === 0) lines.push("(a') NCCL: no result (nccl.jsonl missing: see the log above)");
  return { lines, ok: rows.length > 0 && rows.every((r) => r.ok !== false) };
}

const [dir = '.', parityRuns = '2', benchRuns = '4', mode = ''] = process.argv.slice(2);
// check.sh --bench-only: (a) and (c); --nccl-only: (a') and (a'').
const sections =
  mode === '--bench-only'
    ? [opsSection(dir), benchSection(dir, Number(benchRuns))]
    : mode === '--nccl-only'
      ? [ncclSection(dir)]
      : [opsSection(dir), ncclSection(dir), paritySection(dir, Number(parityRuns)), benchSection(dir, Number(benchRuns))];
console.log([...machine(), ...sections.flatMap((s) => s.lines)].join('\n'));
process.exitCode = sections.every((s) => s.ok) ? 0 : 1;
