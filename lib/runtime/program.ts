// Program: a spec compiled once for a device; each run binds tensors and awaits the device's worker.
import { Device, requireAvailable } from './device.js';
import { ResnetError, expected, formatShape } from './errors.js';
import { type NativeProgramHandle, type ProgramSpec, native } from './native.js';
import type { Tensor } from './tensor.js';

export type { OpSpec, ProgramSpec, ValueSpec } from './native.js';

/** Native errors lose the caller's stack across the thread hop; put it back. */
export function withCallerStack(error: unknown, caller: Error): unknown {
  if (error instanceof Error && caller.stack) {
    const head = `${error.name}: ${error.message}`;
    error.stack = head + caller.stack.slice(caller.stack.indexOf('\n'));
  }
  return error;
}

export class Program {
  readonly spec: ProgramSpec;
  readonly device: Device;
  #handle: NativeProgramHandle | undefined;

  constructor(device: string | Device, spec: ProgramSpec) {
    this.device = Device.from(device);
    requireAvailable(this.device);
    this.spec = spec;
    try {
      this.#handle = native().createProgram(this.device.name, spec);
    } catch (error) {
      throw withCallerStack(error, new Error());
    }
  }

  /** Runs the op list with `bound` tensors in the order of `spec.externals`. */
  async run(bound: readonly Tensor[]): Promise<void> {
    if (!this.#handle) throw new ResnetError('RN_DISPOSED', 'the program has been disposed');
    const { externals, values } = this.spec;
    if (bound.length !== externals.length) {
      throw expected('RN_INVALID_ARGUMENT', undefined, 'program run', `${externals.length} tensors`, `${bound.length}`);
    }
    const handles = bound.map((t, i) => {
      const value = values[externals[i]];
      if (t.dtype !== value.dtype || t.shape.length !== value.shape.length || t.shape.some((d, k) => d !== value.shape[k])) {
        throw expected(
          'RN_SHAPE_MISMATCH',
          undefined,
          `bound tensor ${i}`,
          `${value.dtype}${formatShape(value.shape)}`,
          `${t.dtype}${formatShape(t.shape)}`,
        );
      }
      if (t.device !== this.device) {
        throw expected('RN_INVALID_ARGUMENT', undefined, `bound tensor ${i}`, `device ${this.device}`, `${t.device}`);
      }
      return t.handle;
    });
    const caller = new Error();
    try {
      await this.#handle.run(handles);
    } catch (error) {
      throw withCallerStack(error, caller);
    }
  }

  /** Time per op kind of the runs made with profiling on (`native().setProfiling(true)`). */
  profile(): { op: string; calls: number; seconds: number }[] {
    return this.#handle?.profile() ?? [];
  }

  get disposed(): boolean {
    return this.#handle === undefined;
  }

  dispose(): void {
    this.#handle?.dispose();
    this.#handle = undefined;
  }
}
