// Float64 reference 2-D convolution (NCHW, OIHW) with plain loops: forward, backward data, backward weights.

export interface ConvShapes {
  x: readonly number[]; // [N, C, H, W]
  w: readonly number[]; // [K, C, kh, kw]
  stride: readonly [number, number];
  padding: readonly [number, number];
  dilation: readonly [number, number];
}

export function outputShape(s: ConvShapes): number[] {
  const [n, , h, wd] = s.x;
  const [k, , kh, kw] = s.w;
  const out = (size: number, kernel: number, i: number) =>
    Math.floor((size + 2 * s.padding[i] - s.dilation[i] * (kernel - 1) - 1) / s.stride[i]) + 1;
  return [n, k, out(h, kh, 0), out(wd, kw, 1)];
}

/**
 * Calls tap(yIndex, xIndex, wIndex) for every product x·w that contributes to an output element:
 * y[n,k,oh,ow] += x[n,c,oh·s - p + i·d, ow·s - p + j·d] · w[k,c,i,j], skipping taps in the zero padding.
 */
function forEachTap(s: ConvShapes, tap: (yi: number, xi: number, wi: number) => void): void {
  const [n, c, h, wd] = s.x;
  const [k, , kh, kw] = s.w;
  const [, , oh, ow] = outputShape(s);
  for (let b = 0; b < n; b++) {
    for (let o = 0; o < k; o++) {
      for (let y = 0; y < oh; y++) {
        for (let x = 0; x < ow; x++) {
          const yi = ((b * k + o) * oh + y) * ow + x;
          for (let ch = 0; ch < c; ch++) {
            for (let i = 0; i < kh; i++) {
              const ih = y * s.stride[0] - s.padding[0] + i * s.dilation[0];
              if (ih < 0 || ih >= h) continue;
              for (let j = 0; j < kw; j++) {
                const iw = x * s.stride[1] - s.padding[1] + j * s.dilation[1];
                if (iw < 0 || iw >= wd) continue;
                tap(yi, ((b * c + ch) * h + ih) * wd + iw, ((o * c + ch) * kh + i) * kw + j);
              }
            }
          }
        }
      }
    }
  }
}

function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** y = conv(x, w) + b. */
export function conv2dRef(s: ConvShapes, x: ArrayLike<number>, w: ArrayLike<number>, b?: ArrayLike<number>): Float64Array {
  const shape = outputShape(s);
  const y = new Float64Array(size(shape));
  forEachTap(s, (yi, xi, wi) => {
    y[yi] += x[xi] * w[wi];
  });
  if (b) {
    const plane = shape[2] * shape[3];
    for (let i = 0; i < y.length; i++) y[i] += b[Math.floor(i / plane) % shape[1]];
  }
  return y;
}

/** dx = ∂(Σ conv(x, w)·dy)/∂x. */
export function conv2dBackwardDataRef(s: ConvShapes, dy: ArrayLike<number>, w: ArrayLike<number>): Float64Array {
  const dx = new Float64Array(size(s.x));
  forEachTap(s, (yi, xi, wi) => {
    dx[xi] += dy[yi] * w[wi];
  });
  return dx;
}

/** dw = ∂(Σ conv(x, w)·dy)/∂w and db = Σ dy over N, OH, OW. */
export function conv2dBackwardWeightsRef(
  s: ConvShapes,
  x: ArrayLike<number>,
  dy: ArrayLike<number>,
): { dw: Float64Array; db: Float64Array } {
  const shape = outputShape(s);
  const dw = new Float64Array(size(s.w));
  forEachTap(s, (yi, xi, wi) => {
    dw[wi] += dy[yi] * x[xi];
  });
  const db = new Float64Array(shape[1]);
  const plane = shape[2] * shape[3];
  for (let i = 0; i < dy.length; i++) db[Math.floor(i / plane) % shape[1]] += dy[i];
  return { dw, db };
}
