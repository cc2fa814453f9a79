// `resnet-node train`: fb.resnet.torch's options and defaults, on the bundled digits by default.
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';

import { loadCifar } from '../data/cifar.js';
import { loadDigits } from '../data/digits.js';
import { folderData } from '../data/folder.js';
import { type TrainingData, imageSetData } from '../data/source.js';
import { resnet } from '../models/resnet.js';
import { OPTIMIZERS, type OptimizerName } from '../optim/optimizers.js';
import type { ScheduleName } from '../optim/schedule.js';
import { ProcessGroup, collectiveTimeout, launchEnv } from '../parallel/process-group.js';
import { ResnetError } from '../runtime/errors.js';
import { native } from '../runtime/native.js';
import { readLatest } from '../train/checkpoint.js';
import { attachProgress } from '../train/progress.js';
import { Trainer } from '../train/trainer.js';
import { type OptionDefs, type ParsedOptions, formatHelp, parseOptions } from './args.js';

export const trainOptions = {
  dataset: { type: 'string', default: 'digits', choices: ['digits', 'cifar10', 'cifar100', 'imagenet', 'folder'], help: 'dataset (digits: the bundled UCI digits at 32×32)' },
  data: { type: 'string', default: '', help: 'dataset folder: the CIFAR binary files, or train/<class>/… and val/<class>/… for imagenet/folder (not needed for digits)' },
  depth: { type: 'integer', default: 0, min: 0, help: 'ResNet depth; 0: 20 for CIFAR-style sets, 34 for ImageNet (fb.resnet.torch)' },
  netType: { type: 'string', default: 'resnet', choices: ['resnet', 'preresnet'], help: 'post- or pre-activation residual units' },
  shortcutType: { type: 'string', default: '', choices: ['', 'A', 'B', 'C'], help: 'shortcut type; empty: A for CIFAR-style sets, B for ImageNet' },
  bnPlacement: { type: 'string', default: 'beforeAdd', choices: ['beforeAdd', 'afterAdd'], help: 'ablation: batch norm before or after the addition' },
  reluAfterAdd: { type: 'boolean', default: true, help: 'ablation: ReLU after the addition (--reluAfterAdd false for none)' },
  bottleneckStride: { type: 'string', default: '3x3', choices: ['3x3', '1x1'], help: 'bottleneck stride on the 3×3 (fb.resnet.torch) or first 1×1 conv' },
  zeroInitLastBN: { type: 'boolean', default: false, help: "γ = 0 for each residual branch's last batch norm" },
  batchSize: { type: 'integer', default: 0, min: 0, help: 'mini-batch size; 0: 128 for CIFAR-style sets, 32 for ImageNet' },
  nEpochs: { type: 'integer', default: 0, min: 0, help: 'epochs; 0: 90 ImageNet, 164 CIFAR, 12 digits' },
  LR: { type: 'number', default: 0.1, min: 0, help: 'initial learning rate' },
  momentum: { type: 'number', default: 0.9, min: 0, help: 'momentum (SGD, RMSprop)' },
  weightDecay: { type: 'number', default: 1e-4, min: 0, help: 'weight decay' },
  nesterov: { type: 'boolean', default: true, help: 'Nesterov momentum for SGD (fb.resnet.torch)' },
  optimizer: { type: 'string', default: 'sgd', choices: OPTIMIZERS, help: 'optimizer' },
  decayNormAndBias: { type: 'boolean', default: true, help: 'weight decay on BN γ/β and biases too (fb.resnet.torch); false excludes them' },
  schedule: { type: 'string', default: 'fb', choices: ['fb', 'step', 'multistep', 'cosine', 'constant'], help: "learning-rate schedule (fb: the dataset's recipe)" },
  milestones: { type: 'string', default: '', help: 'multistep: comma-separated epochs where the rate is multiplied by --gamma' },
  stepSize: { type: 'integer', default: 30, min: 1, help: 'step: epochs between rate drops' },
  gamma: { type: 'number', default: 0.1, min: 0, help: 'step/multistep: rate multiplier' },
  warmupEpochs: { type: 'number', default: 0, min: 0, help: 'linear learning-rate warm-up, in epochs' },
  save: { type: 'string', default: 'checkpoints', help: 'checkpoint folder (every epoch: latest, and model_best)' },
  resume: { type: 'string', default: '', help: 'resume from the latest checkpoint in this folder' },
  retrain: { type: 'string', default: '', help: 'start from these weights (safetensors, torchvision keys)' },
  testOnly: { type: 'boolean', default: false, help: 'only evaluate (with --resume or --retrain) and print top-1/top-5' },
  manualSeed: { type: 'integer', default: 0, min: 0, help: 'random seed (initialisation, data order, augmentation)' },
  device: { type: 'string', default: 'cpu', help: "device: 'cpu' or 'cuda:N'" },
  cpuConv: { type: 'string', default: 'auto', choices: ['auto', 'direct'], help: 'CPU 3x3 convolutions: Winograd where faster (float32 results ~1e-4 off per layer), or direct only (as exact as PyTorch)' },
  cudnn: { type: 'string', default: 'fastest', choices: ['fastest', 'default', 'deterministic'], help: 'cuDNN convolution algorithms: benchmark once per shape, heuristics, or deterministic only (fb.resnet.torch)' },
  nGPU: { type: 'integer', default: 0, min: 0, help: 'data parallel on cuda:0 … cuda:N-1, the batch split across them (fb.resnet.torch); 0: --device' },
  devices: { type: 'string', default: '', help: "data parallel on these devices, one replica each: 'cuda:0,cuda:1'; 'cuda:0,cuda:0' for two replicas on one GPU (cuda:0, cuda:0/1); 'cpu,cpu' for CPU replicas (cpu:0, cpu:1)" },
  syncBN: { type: 'boolean', default: false, help: 'with several devices: batch-norm statistics over all replicas (default: per replica)' },
  threads: { type: 'integer', default: 0, min: 0, help: 'CPU backend threads, shared among CPU replicas; 0: all cores (or RN_NUM_THREADS; under launch, cores / processes per node)' },
  timeout: { type: 'number', default: 0, min: 0, help: 'multi-process (launch, Slurm): seconds a rank waits for the others at the rendezvous and each all-reduce before failing with an error naming the rank; 0: RN_COLLECTIVE_TIMEOUT or 300' },
  nThreads: { type: 'integer', default: 2, min: 1, help: 'image decoding threads (folder/imagenet datasets)' },
  prefetch: { type: 'integer', min: 1, help: 'folder/imagenet: batches decoded ahead of the one in use (default: max(2, nThreads))' },
  imageSize: { type: 'integer', default: 224, min: 1, help: 'training crop side for folder/imagenet (validation scales to 256/224 of it, then crops)' },
  tenCrop: { type: 'boolean', default: false, help: 'folder/imagenet validation on ten crops (centre and corners, and their flips), logits summed per image' },
  scaleAugmentation: { type: 'boolean', default: false, help: "folder/imagenet: the paper's scale augmentation (shorter side U[256,480], random crop) instead of RandomSizedCrop" },
  json: { type: 'boolean', default: false, help: 'JSON lines on stdout; the last is {"event":"end",…}' },
  quiet: { type: 'boolean', default: false, help: 'print only the final result' },
  help: { type: 'boolean', default: false, help: 'show this help' },
} as const satisfies OptionDefs;

export type TrainCliOptions = ParsedOptions<typeof trainOptions>;

const CIFAR_LIKE = new Set(['digits', 'cifar10', 'cifar100']);

async function loadDataset(o: TrainCliOptions): Promise<TrainingData> {
  if (o.tenCrop && (o.dataset === 'digits' || o.dataset === 'cifar10' || o.dataset === 'cifar100')) {
    throw new ResnetError('RN_INVALID_ARGUMENT', `train: --tenCrop is for image folders (--dataset imagenet|folder), not ${o.dataset}`);
  }
  if (o.dataset === 'digits') return imageSetData(await loadDigits());
  if (o.dataset === 'cifar10' || o.dataset === 'cifar100') {
    if (!o.data) throw new ResnetError('RN_INVALID_ARGUMENT', `--dataset ${o.dataset} needs --data DIR holding the CIFAR binary files`);
    return imageSetData(await loadCifar(resolve(o.data), { dataset: o.dataset }));
  }
  if (!o.data) throw new ResnetError('RN_INVALID_ARGUMENT', `--dataset ${o.dataset} needs --data DIR holding train/<class>/<images> and val/<class>/<images>`);
  const scale = (side: number) => Math.round((side * o.imageSize) / 224);
  return folderData(resolve(o.data), {
    name: o.dataset,
    nThreads: o.nThreads,
    prefetch: o.prefetch,
    imageSize: o.imageSize,
    tenCrop: o.tenCrop,
    scaleAugmentation: o.scaleAugmentation ? [scale(256), scale(480)] : undefined,
  });
}

/**
 * --nGPU N: cuda:0 … cuda:N-1; --devices as listed, each bare 'cpu' taking the next CPU index and each repeat of
 * a GPU its next replica slot ('cuda:0,cuda:0' → cuda:0, cuda:0/1: two replicas on GPU 0); else undefined (--device).
 */
export function replicaDevices(o: Pick<TrainCliOptions, 'nGPU' | 'devices'>): string[] | undefined {
  if (o.nGPU && o.devices) throw new ResnetError('RN_INVALID_ARGUMENT', 'train: give --nGPU or --devices, not both');
  if (o.nGPU) return Array.from({ length: o.nGPU }, (_, i) => `cuda:${i}`);
  if (!o.devices) return undefined;
  let nextCpu = 0;
  const slots = new Map<string, number>();
  return o.devices.split(',').map((raw) => {
    const d = raw.trim();
    if (d === 'cpu') return `cpu:${nextCpu++}`;
    const gpu = /^cuda(?::(\d+))?$/.exec(d);
    if (!gpu) return d;
    const name = `cuda:${gpu[1] ?? 0}`;
    const slot = slots.get(name) ?? 0;
    slots.set(name, slot + 1);
    return slot === 0 ? name : `${name}/${slot}`;
  });
}

/** Builds the Trainer a `train` command line describes (shared with tests and `bench train`). */
export async function trainerFromOptions(o: TrainCliOptions, processGroup?: ProcessGroup): Promise<Trainer> {
  const data = await loadDataset(o);
  const cifarLike = CIFAR_LIKE.has(o.dataset);
  const depth = o.depth || (cifarLike ? 20 : 34);
  const model = resnet({
    depth,
    dataset: cifarLike ? (o.dataset === 'cifar100' ? 'cifar100' : 'cifar10') : 'imagenet',
    numClasses: data.classes,
    netType: o.netType as 'resnet' | 'preresnet',
    shortcutType: (o.shortcutType || undefined) as 'A' | 'B' | 'C' | undefined,
    bnPlacement: o.bnPlacement as 'beforeAdd' | 'afterAdd',
    reluAfterAdd: o.reluAfterAdd,
    bottleneckStride: o.bottleneckStride as '3x3' | '1x1',
    zeroInitLastBN: o.zeroInitLastBN,
  });
  const epochs = o.nEpochs || (o.dataset === 'digits' ? 12 : cifarLike ? 164 : 90);
  const milestones = o.milestones ? o.milestones.split(',').map((m) => Number(m.trim())) : undefined;
  if (milestones?.some((m) => !Number.isInteger(m) || m < 1)) {
    throw new ResnetError('RN_INVALID_ARGUMENT', `train: Expected comma-separated epochs ≥ 1 for --milestones but received '${o.milestones}'`);
  }
  const config = {
    dataset: o.dataset, depth, netType: o.netType, shortcutType: o.shortcutType, bnPlacement: o.bnPlacement, reluAfterAdd: o.reluAfterAdd,
    bottleneckStride: o.bottleneckStride, zeroInitLastBN: o.zeroInitLastBN, optimizer: o.optimizer,
  };
  if (o.resume && !o.testOnly) {
    const saved = await readLatest(resolve(o.resume));
    for (const [key, value] of Object.entries(config)) {
      if (key in saved.config && saved.config[key] !== value) {
        throw new ResnetError('RN_INVALID_ARGUMENT', `--resume ${o.resume}: the checkpoint was trained with --${key} ${String(saved.config[key])}, not ${String(value)}`);
      }
    }
  }
  return new Trainer({
    model,
    data,
    batchSize: o.batchSize || (cifarLike ? 128 : 32),
    epochs,
    schedule: {
      name: o.schedule as ScheduleName, lr: o.LR, dataset: o.dataset as 'digits', milestones, stepSize: o.stepSize, gamma: o.gamma,
      warmupEpochs: o.warmupEpochs,
    },
    optimizer: {
      name: o.optimizer as OptimizerName, momentum: o.momentum, nesterov: o.optimizer === 'sgd' ? o.nesterov && o.momentum > 0 : undefined,
      weightDecay: o.weightDecay, decayNormAndBias: o.decayNormAndBias,
    },
    device: o.device,
    devices: replicaDevices(o),
    syncBatchNorm: o.syncBN,
    processGroup,
    save: o.save ? resolve(o.save) : undefined,
    resume: o.resume ? resolve(o.resume) : undefined,
    weights: o.retrain ? resolve(o.retrain) : undefined,
    seed: o.manualSeed,
    config,
  });
}

export async function train(argv: readonly string[]): Promise<number> {
  const { options: o, positionals } = parseOptions(argv, trainOptions, 'train');
  if (o.help) {
    console.log(formatHelp('train', 'Trains a ResNet (fb.resnet.torch options). With no options: CIFAR ResNet-20 on the bundled digits, on the CPU.', trainOptions));
    return 0;
  }
  if (positionals.length) throw new ResnetError('RN_INVALID_ARGUMENT', `train: unexpected argument '${positionals[0]}' (options start with --)`);
  if (o.threads) native().setNumThreads(o.threads);
  native().setSetting('cudnn', o.cudnn);
  native().setSetting('cpu_conv', o.cpuConv);
  if (o.testOnly && !o.resume && !o.retrain) throw new ResnetError('RN_INVALID_ARGUMENT', 'train: --testOnly needs --resume DIR or --retrain FILE');
  const group = await joinProcessGroup(o);
  let trainer: Trainer;
  try {
    trainer = await trainerFromOptions(o, group);
  } catch (error) {
    group?.destroy();
    throw error;
  }
  const rank = group?.rank ?? 0;
  const mode = o.json ? 'json' : o.quiet ? 'quiet' : process.stderr.isTTY ? 'tty' : 'lines';
  // Rank 0 alone reports (the others' errors still reach stderr).
  if (rank === 0) attachProgress(trainer, mode);
  let stopping = false;
  const onSignal = () => {
    if (stopping) {
      console.error('\nresnet-node train: stopped; the last finished epoch is in the checkpoint folder');
      process.exit(130);
    }
    stopping = true;
    trainer.stop();
    console.error('\nresnet-node train: stopping after this epoch (its checkpoint is written); Ctrl-C again to stop now');
  };
  process.on('SIGINT', onSignal);
  try {
    if (o.testOnly) {
      await trainer.prepare();
      const r = await trainer.evaluate();
      if (rank !== 0) return 0;
      if (o.json) console.log(JSON.stringify({ event: 'end', testTop1: r.top1, testTop5: r.top5, testLoss: r.loss }));
      else console.log(`test top-1 error ${r.top1.toFixed(2)}%  top-5 ${r.top5.toFixed(2)}%  loss ${r.loss.toFixed(4)}`);
      return 0;
    }
    const end = await trainer.fit();
    return end.stopped ? 130 : 0;
  } finally {
    process.off('SIGINT', onSignal);
    trainer.dispose();
    group?.destroy();
  }
}

/**
 * Under `resnet-node launch`, torchrun or Slurm (WORLD_SIZE > 1): this process's rank of a Gloo process group on
 * cpu (or cuda:LOCAL_RANK for --device cuda), with the cores shared among this node's processes; else undefined.
 */
async function joinProcessGroup(o: TrainCliOptions): Promise<ProcessGroup | undefined> {
  const env = launchEnv();
  if (!env || env.worldSize === 1) return undefined;
  if (o.devices || o.nGPU) {
    throw new ResnetError('RN_INVALID_ARGUMENT', `train: each of the ${env.worldSize} processes drives one device (--device); --devices and --nGPU are for replicas in one process`);
  }
  if (process.env.RN_LAUNCH_PID) watchLauncher(Number(process.env.RN_LAUNCH_PID));
  if (!o.threads && !process.env.RN_NUM_THREADS) native().setNumThreads(Math.max(1, Math.floor(availableParallelism() / env.localWorldSize)));
  return ProcessGroup.create({
    rank: env.rank,
    worldSize: env.worldSize,
    masterAddr: env.masterAddr,
    masterPort: env.masterPort,
    device: o.device === 'cuda' ? `cuda:${env.localRank}` : o.device,
    timeoutSeconds: collectiveTimeout(o.timeout),
  });
}

/** A worker whose launcher has gone (killed outright) stops too, rather than train on alone. */
function watchLauncher(launcherPid: number): void {
  if (!Number.isInteger(launcherPid) || launcherPid < 1) return;
  setInterval(() => {
    if (process.ppid !== launcherPid) {
      console.error(`resnet-node train: the launcher (pid ${launcherPid}) has gone; stopping`);
      process.exit(1);
    }
  }, 1000).unref();
}
