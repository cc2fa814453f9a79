// Float64 references for top-k counts, channel concatenation, shortcut type A and dropout.

/**
 * Top-k counts by sorting (an independent route to the kernel's rank rule): the label is correct at k when it
 * sits among the first k of the row sorted by descending logit, with ties broken in the label's favour.
 */
export function topkCorrectRef(logits: ArrayLike<number>, labels: ArrayLike<number>, n: number, k: number, ks: readonly number[]): number[] {
  const counts = ks.map(() => 0);
  for (let i = 0; i < n; i++) {
    const label = labels[i];
    const order = Array.from({ length: k }, (_, j) => j).sort((a, b) => {
      const d = logits[i * k + b] - logits[i * k + a];
      if (d !== 0) return d;
      return a === label ? -1 : b === label ? 1 : a - b;
    });
    const position = order.indexOf(label);
    ks.forEach((kk, q) => {
      if (position < Math.min(kk, k)) counts[q]++;
    });
  }
  return counts;
}

/** Concatenation along dim 1 of row-major parts with shapes [N, Ci, ...inner]. */
export function concatRef(parts: readonly ArrayLike<number>[], channels: readonly number[], n: number, inner: number): Float64Array {
  const total = channels.reduce((a, b) => a + b, 0);
  const y = new Float64Array(n * total * inner);
  for (let b = 0; b < n; b++) {
    let offset = 0;
    parts.forEach((p, q) => {
      for (let c = 0; c < channels[q]; c++) {
        for (let e = 0; e < inner; e++) y[(b * total + offset + c) * inner + e] = p[(b * channels[q] + c) * inner + e];
      }
      offset += channels[q];
    });
  }
  return y;
}

/** Splits dy [N, ΣCi, inner] into parts [N, Ci, inner]. */
export function concatBackwardRef(dy: ArrayLike<number>, channels: readonly number[], n: number, inner: number): Float64Array[] {
  const total = channels.reduce((a, b) => a + b, 0);
  let offset = 0;
  return channels.map((ch) => {
    const part = new Float64Array(n * ch * inner);
    for (let b = 0; b < n; b++) {
      for (let c = 0; c < ch; c++) {
        for (let e = 0; e < inner; e++) part[(b * ch + c) * inner + e] = dy[(b * total + offset + c) * inner + e];
      }
    }
    offset += ch;
    return part;
  });
}

export interface ShortcutShape {
  n: number;
  c: number;
  h: number;
  w: number;
  cOut: number;
  stride: number;
}

export function shortcutOutShape(s: ShortcutShape): [number, number, number, number] {
  return [s.n, s.cOut, Math.ceil(s.h / s.stride), Math.ceil(s.w / s.stride)];
}

/** Average pooling with a 1x1 window and step s (x[:, :, ::s, ::s]), then zero channels C..cOut-1. */
export function shortcutARef(x: ArrayLike<number>, s: ShortcutShape): Float64Array {
  const [, , ho, wo] = shortcutOutShape(s);
  const y = new Float64Array(s.n * s.cOut * ho * wo);
  for (let b = 0; b < s.n; b++) {
    for (let c = 0; c < s.c; c++) {
      for (let i = 0; i < ho; i++) {
        for (let j = 0; j < wo; j++) {
          // a 1x1 average-pooling window at (i·s, j·s): the one element itself
          y[((b * s.cOut + c) * ho + i) * wo + j] = x[((b * s.c + c) * s.h + i * s.stride) * s.w + j * s.stride];
        }
      }
    }
  }
  return y;
}

export function shortcutABackwardRef(dy: ArrayLike<number>, s: ShortcutShape): Float64Array {
  const [, , ho, wo] = shortcutOutShape(s);
  const dx = new Float64Array(s.n * s.c * s.h * s.w);
  for (let b = 0; b < s.n; b++) {
    for (let c = 0; c < s.c; c++) {
      for (let i = 0; i < ho; i++) {
        for (let j = 0; j < wo; j++) {
          dx[((b * s.c + c) * s.h + i * s.stride) * s.w + j * s.stride] += dy[((b * s.cOut + c) * ho + i) * wo + j];
        }
      }
    }
  }
  return dx;
}

/** Dropout given its mask: y = x·mask/(1-p) (the backward has the same form with dy). */
export function dropoutRef(x: ArrayLike<number>, mask: ArrayLike<number>, p: number): Float64Array {
  return Float64Array.from({ length: x.length }, (_, i) => (mask[i] ? x[i] / (1 - p) : 0));
}
