// Float64 reference for 2d pooling over NCHW arrays, written as window enumeration (no clipping arithmetic).

export interface PoolParams {
  kernel: [number, number];
  stride: [number, number];
  padding: [number, number];
  ceilMode: boolean;
  countIncludePad?: boolean;
}

/**
 * Output positions along one axis: those whose window fits the padded input (floor mode), or, in ceil mode,
 * those within ceil((size + 2·pad - kernel)/stride) that start inside the input or the left padding.
 */
export function pooledSizeRef(size: number, kernel: number, stride: number, pad: number, ceilMode: boolean): number {
  let count = 0;
  for (let o = 0; ; o++) {
    const start = o * stride - pad;
    const fits = start + kernel <= size + pad;
    const ceilExtra = ceilMode && o * stride < size + 2 * pad - kernel + stride && start < size;
    if (!fits && !ceilExtra) return count;
    count++;
  }
}

export function poolShapeRef(shape: readonly number[], p: PoolParams): number[] {
  const [n, c, h, w] = shape;
  return [
    n,
    c,
    pooledSizeRef(h, p.kernel[0], p.stride[0], p.padding[0], p.ceilMode),
    pooledSizeRef(w, p.kernel[1], p.stride[1], p.padding[1], p.ceilMode),
  ];
}

/** Visits every output position with its window's cells: the flat input index (-1 outside the input) and whether the cell lies in the padded input. */
function forEachWindow(
  shape: readonly number[],
  p: PoolParams,
  visit: (plane: number, out: number, cells: { at: number; inPadded: boolean }[]) => void,
): void {
  const [n, c, h, w] = shape;
  const [, , oh, ow] = poolShapeRef(shape, p);
  for (let plane = 0; plane < n * c; plane++) {
    for (let y = 0; y < oh; y++) {
      for (let x = 0; x < ow; x++) {
        const cells: { at: number; inPadded: boolean }[] = [];
        for (let ky = 0; ky < p.kernel[0]; ky++) {
          for (let kx = 0; kx < p.kernel[1]; kx++) {
            const r = y * p.stride[0] - p.padding[0] + ky;
            const q = x * p.stride[1] - p.padding[1] + kx;
            const inside = r >= 0 && r < h && q >= 0 && q < w;
            const inPadded = r < h + p.padding[0] && q < w + p.padding[1];
            cells.push({ at: inside ? r * w + q : -1, inPadded });
          }
        }
        visit(plane, (plane * oh + y) * ow + x, cells);
      }
    }
  }
}

/** Max over each window (padding is -inf); the first maximum in row-major order gives the index. */
export function maxPoolRef(x: ArrayLike<number>, shape: readonly number[], p: PoolParams): { y: Float64Array; indices: Int32Array } {
  const outShape = poolShapeRef(shape, p);
  const size = outShape.reduce((a, b) => a * b, 1);
  const image = shape[2] * shape[3];
  const y = new Float64Array(size);
  const indices = new Int32Array(size);
  forEachWindow(shape, p, (plane, out, cells) => {
    let best = -Infinity;
    let bestAt = -1;
    for (const { at } of cells) {
      if (at >= 0 && (bestAt < 0 || x[plane * image + at] > best)) {
        best = x[plane * image + at];
        bestAt = at;
      }
    }
    y[out] = best;
    indices[out] = bestAt;
  });
  return { y, indices };
}

export function maxPoolBackwardRef(dy: ArrayLike<number>, indices: ArrayLike<number>, inputShape: readonly number[]): Float64Array {
  const image = inputShape[2] * inputShape[3];
  const pooled = dy.length / (inputShape[0] * inputShape[1]);
  const dx = new Float64Array(image * inputShape[0] * inputShape[1]);
  for (let i = 0; i < dy.length; i++) dx[Math.floor(i / pooled) * image + indices[i]] += dy[i];
  return dx;
}

function divisor(cells: { at: number; inPadded: boolean }[], countIncludePad: boolean): number {
  return cells.filter((cell) => (countIncludePad ? cell.inPadded : cell.at >= 0)).length;
}

export function avgPoolRef(x: ArrayLike<number>, shape: readonly number[], p: PoolParams): Float64Array {
  const outShape = poolShapeRef(shape, p);
  const y = new Float64Array(outShape.reduce((a, b) => a * b, 1));
  const image = shape[2] * shape[3];
  forEachWindow(shape, p, (plane, out, cells) => {
    let sum = 0;
    for (const { at } of cells) if (at >= 0) sum += x[plane * image + at];
    y[out] = sum / divisor(cells, p.countIncludePad ?? true);
  });
  return y;
}

export function avgPoolBackwardRef(dy: ArrayLike<number>, inputShape: readonly number[], p: PoolParams): Float64Array {
  const image = inputShape[2] * inputShape[3];
  const dx = new Float64Array(image * inputShape[0] * inputShape[1]);
  forEachWindow(inputShape, p, (plane, out, cells) => {
    const share = dy[out] / divisor(cells, p.countIncludePad ?? true);
    for (const { at } of cells) if (at >= 0) dx[plane * image + at] += share;
  });
  return dx;
}

export function globalAvgPoolRef(x: ArrayLike<number>, shape: readonly number[]): Float64Array {
  const image = shape[2] * shape[3];
  const y = new Float64Array(shape[0] * shape[1]);
  for (let i = 0; i < x.length; i++) y[Math.floor(i / image)] += x[i] / image;
  return y;
}

export function globalAvgPoolBackwardRef(dy: ArrayLike<number>, inputShape: readonly number[]): Float64Array {
  const image = inputShape[2] * inputShape[3];
  return Float64Array.from({ length: dy.length * image }, (_, i) => dy[Math.floor(i / image)] / image);
}
