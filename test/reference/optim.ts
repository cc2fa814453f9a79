// Float64 references of torch.optim's update rules (PyTorch 2.x, single-tensor path), in place on Float64Arrays.
// Every option is explicit here (no defaults), so a test states exactly which rule it checks.

export interface RefStep {
  lr: number;
  /** 1 at the first update. */
  step: number;
}

export interface SgdRef extends RefStep {
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
}

export interface RmspropRef extends RefStep {
  alpha: number;
  eps: number;
  weightDecay: number;
  momentum: number;
  centered: boolean;
}

export interface AdadeltaRef extends RefStep {
  rho: number;
  eps: number;
  weightDecay: number;
}

export interface AdagradRef extends RefStep {
  lrDecay: number;
  eps: number;
  weightDecay: number;
}

export interface AdamRef extends RefStep {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  amsgrad: boolean;
  /** AdamW: param *= 1 − lr·wd instead of adding wd·param to the gradient. */
  decoupled: boolean;
}

/** g = grad + wd·param (torch adds the L2 term to the gradient first in every rule here). */
function decayed(grad: Float64Array, param: Float64Array, wd: number, i: number): number {
  return wd !== 0 ? grad[i] + wd * param[i] : grad[i];
}

export function sgdReference(param: Float64Array, grad: Float64Array, s: { momentumBuf: Float64Array }, o: SgdRef): void {
  for (let i = 0; i < param.length; i++) {
    let g = decayed(grad, param, o.weightDecay, i);
    if (o.momentum !== 0) {
      const buf = o.step === 1 ? g : o.momentum * s.momentumBuf[i] + (1 - o.dampening) * g;
      s.momentumBuf[i] = buf;
      g = o.nesterov ? g + o.momentum * buf : buf;
    }
    param[i] -= o.lr * g;
  }
}

export function rmspropReference(
  param: Float64Array,
  grad: Float64Array,
  s: { squareAvg: Float64Array; momentumBuf: Float64Array; gradAvg?: Float64Array },
  o: RmspropRef,
): void {
  for (let i = 0; i < param.length; i++) {
    const g = decayed(grad, param, o.weightDecay, i);
    s.squareAvg[i] = o.alpha * s.squareAvg[i] + (1 - o.alpha) * g * g;
    let variance = s.squareAvg[i];
    if (o.centered) {
      const ga = s.gradAvg!;
      ga[i] = o.alpha * ga[i] + (1 - o.alpha) * g;
      variance -= ga[i] * ga[i];
    }
    const avg = Math.sqrt(variance) + o.eps;
    if (o.momentum > 0) {
      s.momentumBuf[i] = o.momentum * s.momentumBuf[i] + g / avg;
      param[i] -= o.lr * s.momentumBuf[i];
    } else {
      param[i] -= (o.lr * g) / avg;
    }
  }
}

export function adadeltaReference(
  param: Float64Array,
  grad: Float64Array,
  s: { squareAvg: Float64Array; accDelta: Float64Array },
  o: AdadeltaRef,
): void {
  for (let i = 0; i < param.length; i++) {
    const g = decayed(grad, param, o.weightDecay, i);
    s.squareAvg[i] = o.rho * s.squareAvg[i] + (1 - o.rho) * g * g;
    const delta = (Math.sqrt(s.accDelta[i] + o.eps) / Math.sqrt(s.squareAvg[i] + o.eps)) * g;
    s.accDelta[i] = o.rho * s.accDelta[i] + (1 - o.rho) * delta * delta;
    param[i] -= o.lr * delta;
  }
}

export function adagradReference(param: Float64Array, grad: Float64Array, s: { stateSum: Float64Array }, o: AdagradRef): void {
  const clr = o.lr / (1 + (o.step - 1) * o.lrDecay);
  for (let i = 0; i < param.length; i++) {
    const g = decayed(grad, param, o.weightDecay, i);
    s.stateSum[i] += g * g;
    param[i] -= (clr * g) / (Math.sqrt(s.stateSum[i]) + o.eps);
  }
}

export function adamReference(
  param: Float64Array,
  grad: Float64Array,
  s: { expAvg: Float64Array; expAvgSq: Float64Array; maxExpAvgSq?: Float64Array },
  o: AdamRef,
): void {
  const bc1 = 1 - o.beta1 ** o.step;
  const bc2 = 1 - o.beta2 ** o.step;
  for (let i = 0; i < param.length; i++) {
    let g = grad[i];
    if (o.weightDecay !== 0) {
      if (o.decoupled) param[i] *= 1 - o.lr * o.weightDecay;
      else g += o.weightDecay * param[i];
    }
    s.expAvg[i] = o.beta1 * s.expAvg[i] + (1 - o.beta1) * g;
    s.expAvgSq[i] = o.beta2 * s.expAvgSq[i] + (1 - o.beta2) * g * g;
    let v = s.expAvgSq[i];
    if (o.amsgrad) {
      const vmax = s.maxExpAvgSq!;
      vmax[i] = Math.max(vmax[i], v);
      v = vmax[i];
    }
    const denom = Math.sqrt(v) / Math.sqrt(bc2) + o.eps;
    param[i] -= ((o.lr / bc1) * s.expAvg[i]) / denom;
  }
}
