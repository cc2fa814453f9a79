// `bench data`: training-transform throughput (decode, random-sized crop, jitter, lighting, normalise, flip) of the
// folder loader (JPEGs cropped natively by libjpeg-turbo where the addon has it) against a PyTorch DataLoader with
// PIL transforms of the same kind (scripts/bench/torch_data.py), on ImageNet-sized JPEGs generated here, with the
// same number of workers. The two alternate for a few rounds and the median round of each is kept; per core is
// images per CPU-second of all their threads and processes.
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import sharp from 'sharp';

import { folderData } from '../../data/folder.js';
import { nativeJpegLibrary } from '../../data/jpeg-crop.js';
import { Rng } from '../../data/random.js';
import type { BenchRow } from './index.js';
import { ratio } from './report.js';

const IMAGES = 200;
const CLASSES = 4;
const WIDTH = 500;
const HEIGHT = 375;
const BATCH = 32;
const WORKERS = 2; // fb.resnet.torch's -nThreads default
const ROUNDS = 3;

/** A photograph-like JPEG: smooth random shapes plus grain, quality 90 (about 80 KB at 500×375). */
async function photo(rng: Rng): Promise<Buffer> {
  const coarse = Buffer.from(Uint8Array.from({ length: 20 * 15 * 3 }, () => rng.int(256)));
  const { data } = await sharp(coarse, { raw: { width: 20, height: 15, channels: 3 } })
    .resize(WIDTH, HEIGHT, { kernel: 'cubic' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  for (let i = 0; i < data.length; i++) data[i] = Math.min(255, Math.max(0, data[i] + rng.int(49) - 24));
  return sharp(data, { raw: { width: WIDTH, height: HEIGHT, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
}

async function writeDataset(root: string): Promise<void> {
  const rng = Rng.seeded(2016);
  for (let i = 0; i < IMAGES; i++) {
    const dir = join(root, 'train', `class${i % CLASSES}`);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, `${i}.jpg`), await photo(rng));
  }
  await mkdir(join(root, 'val', 'class0'), { recursive: true });
  await writeFile(join(root, 'val', 'class0', '0.jpg'), await photo(rng));
}

interface Rates {
  perSecond: number;
  perCpuSecond: number | null;
}

/** Images per second and per CPU-second (this process: main thread, decode threads, libuv and libvips threads) over `epochs` epochs after a warm-up epoch. */
async function ours(root: string, epochs: number): Promise<Rates> {
  const data = await folderData(root, { nThreads: WORKERS, cache: false });
  try {
    const loader = data.trainLoader({ batchSize: BATCH, seed: 1 });
    for await (const batch of loader.epoch()) void batch;
    let images = 0;
    const cpu = process.cpuUsage();
    const start = performance.now();
    for (let e = 0; e < epochs; e++) for await (const batch of loader.epoch()) images += batch.size;
    const seconds = (performance.now() - start) / 1000;
    const used = process.cpuUsage(cpu);
    return { perSecond: images / seconds, perCpuSecond: images / ((used.user + used.system) / 1e6) };
  } finally {
    await data.close();
  }
}

function torchBaseline(root: string, epochs: number): { rates: Rates | null; note: string } {
  const script = fileURLToPath(new URL('../../../scripts/bench/torch_data.py', import.meta.url));
  const args = [script, '--dir', join(root, 'train'), '--workers', String(WORKERS), '--batch', String(BATCH), '--epochs', String(epochs), '--json'];
  const r = spawnSync('python3', args, { encoding: 'utf8' });
  if (r.status !== 0) return { rates: null, note: (r.stderr || r.error?.message || 'failed').trim().split('\n').at(-1) ?? '' };
  const row = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { imagesPerSec: number; imagesPerCpuSecond: number | null; transforms: string };
  return { rates: { perSecond: row.imagesPerSec, perCpuSecond: row.imagesPerCpuSecond }, note: row.transforms };
}

function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

export async function benchData(options: { json: boolean; iterations?: number; only?: string }): Promise<BenchRow[]> {
  const name = `data train ${WIDTH}x${HEIGHT} jpeg, ${WORKERS} workers`;
  if (options.only && !`${name}, per core`.includes(options.only)) return [];
  const epochs = Math.max(1, Math.min(options.iterations ?? 3, 10));
  const root = await mkdtemp(join(tmpdir(), 'resnet-node-bench-data-'));
  try {
    await writeDataset(root);
    const mine: Rates[] = [];
    const theirs: Rates[] = [];
    let note = '';
    for (let round = 0; round < ROUNDS; round++) {
      mine.push(await ours(root, epochs));
      const torch = torchBaseline(root, epochs);
      if (torch.rates) theirs.push(torch.rates);
      note = torch.note;
    }
    if (!options.json) {
      const library = nativeJpegLibrary();
      console.error(`ours: ${library ? `${library} region decoding and native crops` : 'sharp (libvips) decoding, the addon has no libjpeg'}, ${WORKERS} decode threads`);
      console.error(theirs.length === 0 ? `PyTorch baseline unavailable: ${note}` : `PyTorch transforms: ${note}`);
    }
    const rate = median(mine.map((r) => r.perSecond))!;
    const baseRate = median(theirs.map((r) => r.perSecond));
    const perCpu = median(mine.flatMap((r) => r.perCpuSecond ?? []))!;
    const basePerCpu = median(theirs.flatMap((r) => r.perCpuSecond ?? []));
    return [
      { name, ours: rate, baseline: baseRate, unit: 'img/s', ratio: ratio(rate, baseRate) },
      { name: `${name}, per core`, ours: perCpu, baseline: basePerCpu, unit: 'img/cpu-s', ratio: ratio(perCpu, basePerCpu) },
    ];
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}
