// Memory planner: hand-checked schedules, then invariants and quality on thousands of random buffers.
import { describe, expect, it } from 'vitest';

import {
  type ArenaPlan,
  type BufferLifetime,
  lifetimes,
  naiveBytes,
  peakLiveBytes,
  planArena,
} from '../../lib/graph/planner.js';
import { ResnetError } from '../../lib/runtime/errors.js';
import { rng } from '../util/random.js';

/** Fails naming the first pair of buffers that are live together and share a byte, or a misaligned offset. */
function expectValidPlan(buffers: readonly BufferLifetime[], plan: ArenaPlan, alignment: number): void {
  expect(plan.offsets.size).toBe(buffers.length);
  for (const b of buffers) {
    const offset = plan.offsets.get(b.id)!;
    if (offset % alignment !== 0) expect.fail(`buffer ${b.id} at offset ${offset} is not ${alignment}-aligned`);
    if (offset + b.bytes > plan.arenaBytes) expect.fail(`buffer ${b.id} ends past the arena (${plan.arenaBytes} bytes)`);
  }
  for (let i = 0; i < buffers.length; i++) {
    const a = buffers[i];
    const aOffset = plan.offsets.get(a.id)!;
    for (let j = i + 1; j < buffers.length; j++) {
      const b = buffers[j];
      if (a.start > b.end || b.start > a.end || a.bytes === 0 || b.bytes === 0) continue;
      const bOffset = plan.offsets.get(b.id)!;
      if (aOffset < bOffset + b.bytes && bOffset < aOffset + a.bytes) {
        expect.fail(
          `buffers ${a.id} [ops ${a.start}–${a.end}, bytes ${aOffset}+${a.bytes}] and ` +
            `${b.id} [ops ${b.start}–${b.end}, bytes ${bOffset}+${b.bytes}] are live together and overlap`,
        );
      }
    }
  }
}

/** Random buffers on a schedule of `numOps` ops: short-lived with log-uniform sizes, or long-lived and uniform. */
function randomBuffers(seed: number, count: number, numOps: number, kind: 'short' | 'long'): BufferLifetime[] {
  const u = rng(seed);
  return Array.from({ length: count }, (_, id) => {
    const start = Math.floor(u() * numOps);
    const length = kind === 'short' ? Math.floor(-Math.log(1 - u()) * 20) : Math.floor((u() * numOps) / 4);
    const bytes = kind === 'short' ? Math.floor(2 ** (10 + u() * 12)) : 1 + Math.floor(u() * 1e6);
    return { id, bytes, start, end: Math.min(numOps - 1, start + length) };
  });
}

function expectInvalid(f: () => unknown, message: RegExp): void {
  try {
    f();
  } catch (error) {
    expect(error).toBeInstanceOf(ResnetError);
    expect((error as ResnetError).code).toBe('RN_INVALID_ARGUMENT');
    expect((error as Error).message).toMatch(message);
    return;
  }
  expect.fail(`expected a ResnetError matching ${message}`);
}

describe('planArena on hand-made schedules', () => {
  it('the overlap check itself catches a bad plan', () => {
    const buffers: BufferLifetime[] = [
      { id: 0, bytes: 128, start: 0, end: 1 },
      { id: 1, bytes: 128, start: 1, end: 2 },
    ];
    const overlapping = { offsets: new Map([[0, 0], [1, 64]]), arenaBytes: 192 };
    expect(() => expectValidPlan(buffers, overlapping, 64)).toThrow(/are live together and overlap/);
    const misaligned = { offsets: new Map([[0, 0], [1, 130]]), arenaBytes: 258 };
    expect(() => expectValidPlan(buffers, misaligned, 64)).toThrow(/not 64-aligned/);
  });

  it('a chain ping-pongs between two slots', () => {
    // Op i reads buffer i−1 and writes buffer i: neighbours are live together at op i, others never.
    const uses = Array.from({ length: 10 }, (_, i) => ({ id: i, bytes: 1024, producedAt: i, usedAt: i < 9 ? [i + 1] : [] }));
    const buffers = lifetimes(10, uses);
    const plan = planArena(buffers);
    expectValidPlan(buffers, plan, 64);
    expect(plan.arenaBytes).toBe(2048);
    expect(peakLiveBytes(buffers)).toBe(2048);
    expect(naiveBytes(buffers)).toBe(10 * 1024);
    expect(new Set(plan.offsets.values())).toEqual(new Set([0, 1024]));
  });

  it('a diamond keeps both branches apart and reuses the input for the join', () => {
    // op0: a; op1: b = f(a); op2: c = g(a); op3: d = b + c.
    const buffers = lifetimes(4, [
      { id: 0, bytes: 4096, producedAt: 0, usedAt: [1, 2] },
      { id: 1, bytes: 4096, producedAt: 1, usedAt: [3] },
      { id: 2, bytes: 4096, producedAt: 2, usedAt: [3] },
      { id: 3, bytes: 4096, producedAt: 3, usedAt: [] },
    ]);
    expect(buffers.map((b) => [b.start, b.end])).toEqual([[0, 2], [1, 3], [2, 3], [3, 3]]);
    const plan = planArena(buffers);
    expectValidPlan(buffers, plan, 64);
    expect(plan.arenaBytes).toBe(3 * 4096); // a, b, c are all live at op 2
    expect(peakLiveBytes(buffers)).toBe(3 * 4096);
    expect(plan.offsets.get(3)).toBe(plan.offsets.get(0)); // d takes a's place, free after op 2
  });

  it('zero-size buffers take no space', () => {
    const buffers: BufferLifetime[] = [
      { id: 7, bytes: 0, start: 0, end: 5 },
      { id: 8, bytes: 640, start: 0, end: 5 },
      { id: 9, bytes: 0, start: 2, end: 3 },
    ];
    const plan = planArena(buffers);
    expectValidPlan(buffers, plan, 64);
    expect(plan.arenaBytes).toBe(640);
    expect(planArena([{ id: 1, bytes: 0, start: 0, end: 0 }]).arenaBytes).toBe(0);
    expect(planArena([]).arenaBytes).toBe(0);
  });

  it('a single op: buffers produced and never read live only at their producer', () => {
    expect(lifetimes(1, [{ id: 0, bytes: 100, producedAt: 0, usedAt: [] }])).toEqual([{ id: 0, bytes: 100, start: 0, end: 0 }]);
    // Three outputs of three different ops, none read: they can all share one slot.
    const buffers = lifetimes(3, [0, 1, 2].map((i) => ({ id: i, bytes: 300 + i, producedAt: i, usedAt: [] })));
    const plan = planArena(buffers);
    expect([...plan.offsets.values()]).toEqual([0, 0, 0]);
    expect(plan.arenaBytes).toBe(302);
  });

  it('every offset honours the alignment', () => {
    const buffers: BufferLifetime[] = [
      { id: 0, bytes: 100, start: 0, end: 1 },
      { id: 1, bytes: 100, start: 0, end: 1 },
      { id: 2, bytes: 1, start: 1, end: 1 },
    ];
    for (const [alignment, offsets] of [
      [64, [0, 128, 256]],
      [256, [0, 256, 512]],
      [1, [0, 100, 200]],
    ] as const) {
      const plan = planArena(buffers, { alignment });
      expectValidPlan(buffers, plan, alignment);
      expect(buffers.map((b) => plan.offsets.get(b.id))).toEqual(offsets);
    }
    expect(naiveBytes(buffers, { alignment: 64 })).toBe(3 * 128 - 64);
  });

  it('the plan does not depend on the order of the input', () => {
    const buffers = randomBuffers(5, 300, 100, 'short');
    const shuffled = [...buffers].reverse();
    expect(planArena(shuffled)).toEqual(planArena(buffers));
  });

  it('a training step keeps forward activations for backward and fits in the peak', () => {
    // Forward op i (0…n−1) writes activation i, read by forward op i+1 and by backward op 2n−1−i;
    // backward op 2n−1−i writes gradient i, read by the next backward op. Sizes halve every few layers.
    const n = 16;
    const bytesOf = (i: number) => 1 << (20 - Math.floor(i / 4));
    const uses = [];
    for (let i = 0; i < n; i++) {
      const usedAt = [2 * n - 1 - i];
      if (i + 1 < n) usedAt.push(i + 1);
      uses.push({ id: i, bytes: bytesOf(i), producedAt: i, usedAt });
      uses.push({ id: n + i, bytes: bytesOf(i), producedAt: 2 * n - 1 - i, usedAt: i > 0 ? [2 * n - i] : [] });
    }
    const buffers = lifetimes(2 * n, uses);
    const plan = planArena(buffers);
    expectValidPlan(buffers, plan, 64);
    const peak = peakLiveBytes(buffers);
    console.log(`training step: naive ${naiveBytes(buffers)} B, planned ${plan.arenaBytes} B, peak ${peak} B`);
    expect(plan.arenaBytes).toBe(peak);
    expect(plan.arenaBytes).toBeLessThan(naiveBytes(buffers));
  });
});

describe('peakLiveBytes and lifetimes', () => {
  it('counts a buffer as live at both ends of its interval', () => {
    const buffers: BufferLifetime[] = [
      { id: 0, bytes: 10, start: 0, end: 2 },
      { id: 1, bytes: 20, start: 2, end: 4 }, // meets buffer 0 at op 2
      { id: 2, bytes: 40, start: 5, end: 5 }, // alone
    ];
    expect(peakLiveBytes(buffers)).toBe(40);
    expect(peakLiveBytes(buffers.slice(0, 2))).toBe(30);
    expect(peakLiveBytes([])).toBe(0);
  });

  it('ends a buffer at its last reader, whatever the order of the reads', () => {
    expect(lifetimes(9, [{ id: 4, bytes: 8, producedAt: 2, usedAt: [7, 3, 5] }])).toEqual([{ id: 4, bytes: 8, start: 2, end: 7 }]);
  });

  it('rejects reads before the producer and op indices outside the schedule', () => {
    expectInvalid(() => lifetimes(4, [{ id: 1, bytes: 8, producedAt: 2, usedAt: [1] }]), /buffer 1 is read at op 1 before it is produced at op 2/);
    expectInvalid(
      () => lifetimes(4, [{ id: 1, bytes: 8, producedAt: 4, usedAt: [] }]),
      /Expected an op index in \[0, 4\) for buffer 1 producedAt but received 4/,
    );
    expectInvalid(() => lifetimes(4, [{ id: 1, bytes: 8, producedAt: 0, usedAt: [9] }]), /buffer 1 usedAt but received 9/);
    expectInvalid(() => lifetimes(-1, []), /numOps/);
  });
});

describe('planArena argument checks', () => {
  it('names the bad buffer or option', () => {
    expectInvalid(
      () => planArena([{ id: 1, bytes: 8, start: 3, end: 2 }]),
      /Expected integers 0 ≤ start ≤ end for buffers\[0\] \(id 1\) lifetime but received \[3, 2\]/,
    );
    expectInvalid(() => planArena([{ id: 1, bytes: -8, start: 0, end: 0 }]), /buffers\[0\]\.bytes but received -8/);
    expectInvalid(() => planArena([{ id: 1, bytes: 1.5, start: 0, end: 0 }]), /buffers\[0\]\.bytes/);
    expectInvalid(
      () => planArena([{ id: 1, bytes: 8, start: 0, end: 0 }, { id: 1, bytes: 8, start: 0, end: 0 }]),
      /Expected an id not used before for buffers\[1\]\.id but received 1/,
    );
    expectInvalid(() => planArena([], { alignment: 0 }), /options\.alignment but received 0/);
    expectInvalid(() => planArena(null as never), /Expected an array for buffers/);
  });
});

describe('planArena on random buffers', () => {
  const cases = [
    { kind: 'short', seeds: [1, 2, 3, 4, 5] },
    { kind: 'long', seeds: [11, 12, 13, 14, 15] },
  ] as const;

  it.each(cases)('$kind-lived: no live overlap, aligned, within [peak, naive] and 1.3× of the peak', ({ kind, seeds }) => {
    const ratios: number[] = [];
    for (const seed of seeds) {
      const buffers = randomBuffers(seed, 3000, 1000, kind);
      const plan = planArena(buffers);
      expectValidPlan(buffers, plan, 64);
      const peak = peakLiveBytes(buffers);
      expect(plan.arenaBytes, `seed ${seed}`).toBeGreaterThanOrEqual(peak);
      expect(plan.arenaBytes, `seed ${seed}`).toBeLessThanOrEqual(naiveBytes(buffers, { alignment: 64 }));
      const ratio = plan.arenaBytes / peak;
      expect(ratio, `seed ${seed}: planned ${plan.arenaBytes} B vs peak ${peak} B`).toBeLessThan(1.3);
      ratios.push(ratio);
    }
    const mean = ratios.reduce((a, b) => a + b, 0) / ratios.length;
    console.log(`${kind}-lived, 3000 buffers × ${seeds.length} seeds: arena / peak mean ${mean.toFixed(3)}, worst ${Math.max(...ratios).toFixed(3)}`);
  });

  it('holds the invariants on small dense sets with tiny sizes and many ties', () => {
    for (let seed = 100; seed < 400; seed++) {
      const u = rng(seed);
      const buffers = Array.from({ length: 1 + Math.floor(u() * 30) }, (_, id) => {
        const start = Math.floor(u() * 6);
        return { id, bytes: Math.floor(u() * 4) * 40, start, end: start + Math.floor(u() * 3) };
      });
      for (const alignment of [1, 64]) {
        const plan = planArena(buffers, { alignment });
        expectValidPlan(buffers, plan, alignment);
        expect(plan.arenaBytes, `seed ${seed}`).toBeGreaterThanOrEqual(peakLiveBytes(buffers));
        expect(plan.arenaBytes, `seed ${seed}`).toBeLessThanOrEqual(naiveBytes(buffers, { alignment }));
      }
    }
  });
});
