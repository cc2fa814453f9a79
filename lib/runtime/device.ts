// Devices by name: 'cpu' now; 'cuda:N' is an explicit error until the CUDA backend can be loaded.
import { ResnetError } from './errors.js';

export type DeviceKind = 'cpu' | 'cuda';

export class Device {
  private constructor(
    readonly kind: DeviceKind,
    readonly index: number,
  ) {}

  /** The name native code uses: 'cpu' or 'cuda:N'. */
  get name(): string {
    return this.kind === 'cpu' ? 'cpu' : `cuda:${this.index}`;
  }

  toString(): string {
    return this.name;
  }

  private static readonly cache = new Map<string, Device>();

  /** Parses 'cpu', 'cuda' or 'cuda:N' (or returns a Device as is). */
  static from(spec: string | Device): Device {
    if (spec instanceof Device) return spec;
    if (typeof spec !== 'string') {
      throw new ResnetError('RN_INVALID_ARGUMENT', `Expected a device like 'cpu' or 'cuda:0' but received ${typeof spec}`);
    }
    const match = /^(cpu|cuda)(?::(\d+))?$/.exec(spec.trim());
    if (!match) {
      throw new ResnetError('RN_INVALID_ARGUMENT', `Expected a device like 'cpu' or 'cuda:0' but received '${spec}'`);
    }
    const kind = match[1] as DeviceKind;
    const index = match[2] === undefined ? 0 : Number(match[2]);
    if (kind === 'cpu' && index !== 0) {
      throw new ResnetError('RN_INVALID_ARGUMENT', `Expected 'cpu' (there is one CPU device) but received '${spec}'`);
    }
    const key = `${kind}:${index}`;
    let device = Device.cache.get(key);
    if (!device) {
      device = new Device(kind, index);
      Device.cache.set(key, device);
    }
    return device;
  }
}

export const cpu = Device.from('cpu');

/** Throws RN_DEVICE_UNAVAILABLE for a device whose backend this build cannot run. */
export function requireAvailable(device: Device): void {
  if (device.kind === 'cuda') {
    throw new ResnetError(
      'RN_DEVICE_UNAVAILABLE',
      `device '${device.name}' was asked for, but this build has no CUDA backend yet; ` +
        "use device 'cpu' (nothing falls back silently)",
    );
  }
}
