// Residual block (Torch's ConcatTable + CAddTable): optional pre-activation, branch + shortcut, add, post-add ops.
import type { Graph } from '../graph/graph.js';
import { expected, formatShape } from '../runtime/errors.js';
import { checkInt } from '../ops/validate.js';
import type { NamedModules } from './containers.js';
import { Module } from './module.js';

export interface ResidualParts {
  /** Applied before the split, so the shortcut sees it too (fb.resnet.torch's 'both_preact' BN-ReLU). */
  preact?: NamedModules;
  /** The residual branch F(x). */
  branch: NamedModules;
  /** [name, module] of the shortcut; identity when absent. */
  shortcut?: readonly [string, Module];
  /** After the addition: ReLU, and BN in the 'afterAdd' ablation. */
  post?: NamedModules;
}

/**
 * y = post(branch(h) + shortcut(h)) with h = preact(x). Every part is a direct child, so parameter names
 * stay flat as torchvision's: 'layer1.0.conv1.weight', 'layer2.0.downsample.0.weight'.
 */
export class Residual extends Module {
  readonly preactNames: readonly string[];
  readonly branchNames: readonly string[];
  readonly shortcutName: string | undefined;
  readonly postNames: readonly string[];

  constructor(parts: ResidualParts) {
    super();
    if (typeof parts !== 'object' || parts === null || !Array.isArray(parts.branch) || parts.branch.length === 0) {
      throw expected(
        'RN_INVALID_ARGUMENT',
        'Residual',
        'parts.branch',
        'a non-empty list of [name, module]',
        JSON.stringify(parts?.branch),
      );
    }
    const register = (list: NamedModules | undefined): string[] => (list ?? []).map(([name, m]) => (this.addModule(name, m), name));
    this.preactNames = register(parts.preact);
    this.branchNames = register(parts.branch);
    this.shortcutName = parts.shortcut ? register([parts.shortcut])[0] : undefined;
    this.postNames = register(parts.post);
  }

  forward(g: Graph, x: number): number {
    let h = x;
    for (const name of this.preactNames) h = this.forwardChild(g, name, h);
    let y = h;
    for (const name of this.branchNames) y = this.forwardChild(g, name, y);
    const s = this.shortcutName === undefined ? h : this.forwardChild(g, this.shortcutName, h);
    const ys = g.shape(y);
    const ss = g.shape(s);
    if (ys.length !== ss.length || ys.some((d, i) => d !== ss[i])) {
      throw expected(
        'RN_SHAPE_MISMATCH',
        `Residual ${g.modulePath || '(root)'}`,
        `the shortcut output (${this.shortcutName ?? 'identity'})`,
        `the branch's shape ${formatShape(ys)}`,
        formatShape(ss),
      );
    }
    let out = g.add(y, s);
    for (const name of this.postNames) out = this.forwardChild(g, name, out);
    return out;
  }
}

/**
 * fb.resnet.torch's option-A shortcut: identity when nothing changes, else strided subsampling
 * (SpatialAveragePooling(1,1,s,s)) and zero channels appended up to outChannels. No parameters.
 */
export class ShortcutA extends Module {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly stride: number;

  constructor(inChannels: number, outChannels: number, stride: number) {
    super();
    this.inChannels = checkInt('ShortcutA', 'inChannels', inChannels, 1);
    this.outChannels = checkInt('ShortcutA', 'outChannels', outChannels, inChannels);
    this.stride = checkInt('ShortcutA', 'stride', stride, 1);
  }

  forward(g: Graph, x: number): number {
    const xs = g.shape(x);
    if (xs.length !== 4 || xs[1] !== this.inChannels) {
      throw expected(
        'RN_SHAPE_MISMATCH',
        `ShortcutA ${g.modulePath || '(root)'}`,
        'input x',
        `[N,${this.inChannels},H,W]`,
        formatShape(xs),
      );
    }
    if (this.inChannels === this.outChannels && this.stride === 1) return x;
    return g.shortcutA(x, this.stride, this.outChannels);
  }
}
