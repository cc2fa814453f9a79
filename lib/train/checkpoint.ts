// Checkpoints: weights as safetensors with torchvision keys, optimizer state beside them, and a
// `latest.json` pointer written last — every file atomic, so a crash leaves the previous checkpoint whole.
import { copyFile, mkdir, readFile, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import { writeFileAtomic, writeJsonAtomic } from '../io/atomic.js';
import { loadSafetensors, saveSafetensors, type SafetensorsTensor } from '../io/safetensors.js';
import type { InitialValue } from '../nn/module.js';
import { ResnetError } from '../runtime/errors.js';

export interface TrainerState {
  format: 'resnet-node-checkpoint-1';
  /** The last finished epoch (1-based). */
  epoch: number;
  step: number;
  bestTop1: number | null;
  bestEpoch: number | null;
  /** The data loader's state for the next epoch (plain numbers). */
  loader: unknown;
  /** The options the run was started with (model, optimizer, schedule). */
  config: Record<string, unknown>;
  /** Class names in label order, when the dataset has them (image folders). */
  classNames?: string[];
  /** Parameter names in the flat layout's order (the optimizer state's order). */
  paramOrder: string[];
  model: string;
  optimizer: string;
  history: { epoch: number; trainLoss: number; trainTop1: number; testTop1: number; testTop5: number; testLoss: number; lr: number }[];
}

export function modelTensors(state: ReadonlyMap<string, InitialValue>, shapes: ReadonlyMap<string, readonly number[]>): Record<string, SafetensorsTensor> {
  const out: Record<string, SafetensorsTensor> = {};
  for (const [name, data] of state) {
    const shape = shapes.get(name) ?? [data.length];
    out[name] = data instanceof BigInt64Array ? { dtype: 'I64', shape, data } : { dtype: 'F32', shape, data };
  }
  return out;
}

/** Saves epoch `epoch`; `isBest` also refreshes model_best.safetensors. Older epoch files are removed. */
export async function saveCheckpoint(
  dir: string,
  state: TrainerState,
  weights: Record<string, SafetensorsTensor>,
  optimizer: readonly Float32Array[],
  isBest: boolean,
  metadata: Record<string, string> = {},
): Promise<{ model: string; best?: string }> {
  await mkdir(dir, { recursive: true });
  const model = `model_${state.epoch}.safetensors`;
  const optim = `optimState_${state.epoch}.safetensors`;
  await saveSafetensors(join(dir, model), weights, { format: 'pt', ...metadata });
  const optimTensors: Record<string, SafetensorsTensor> = {};
  optimizer.forEach((s, i) => (optimTensors[`state${i}`] = { dtype: 'F32', shape: [s.length], data: s }));
  await saveSafetensors(join(dir, optim), optimTensors, { paramOrder: JSON.stringify(state.paramOrder) });
  let best: string | undefined;
  if (isBest) {
    best = join(dir, 'model_best.safetensors');
    await writeFileAtomic(best, await readFile(join(dir, model)));
  }
  const previous = await readLatest(dir).catch(() => undefined);
  await writeJsonAtomic(join(dir, 'latest.json'), { ...state, model, optimizer: optim });
  if (previous && previous.epoch !== state.epoch) {
    await rm(join(dir, previous.model), { force: true });
    await rm(join(dir, previous.optimizer), { force: true });
  }
  return { model: join(dir, model), best };
}

export async function readLatest(dir: string): Promise<TrainerState> {
  const path = join(dir, 'latest.json');
  if (!existsSync(path)) {
    throw new ResnetError('RN_INVALID_ARGUMENT', `no checkpoint to resume in ${dir} (expected ${path})`, 'resume');
  }
  let state: TrainerState;
  try {
    state = JSON.parse(await readFile(path, 'utf8')) as TrainerState;
  } catch (error) {
    throw new ResnetError('RN_INVALID_ARGUMENT', `${path} is not valid JSON: ${(error as Error).message}`, 'resume');
  }
  if (state.format !== 'resnet-node-checkpoint-1') {
    throw new ResnetError('RN_INVALID_ARGUMENT', `${path} is not a resnet-node checkpoint (format ${String(state.format)})`, 'resume');
  }
  return state;
}

/** Loads weights (any safetensors file with torchvision-style keys) as a name → values map. */
export async function loadWeights(path: string): Promise<Map<string, InitialValue>> {
  const file = await loadSafetensors(path);
  const out = new Map<string, InitialValue>();
  for (const [name, t] of Object.entries(file.tensors)) {
    if (t.dtype === 'F32' || t.dtype === 'I64') out.set(name, t.data);
    else throw new ResnetError('RN_INVALID_ARGUMENT', `${path}: tensor '${name}' is ${t.dtype}; expected F32 (or I64 counters)`, 'loadWeights');
  }
  return out;
}

export async function loadOptimizerState(dir: string, state: TrainerState): Promise<Float32Array[]> {
  const file = await loadSafetensors(join(dir, state.optimizer));
  const out: Float32Array[] = [];
  for (let i = 0; `state${i}` in file.tensors; i++) {
    const t = file.tensors[`state${i}`];
    if (t.dtype !== 'F32') throw new ResnetError('RN_INVALID_ARGUMENT', `${state.optimizer}: state${i} is ${t.dtype}`, 'resume');
    out.push(t.data);
  }
  return out;
}
