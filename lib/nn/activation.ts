// ReLU and Dropout (identity unless both the module and the graph are in training mode).
import type { Graph } from '../graph/graph.js';
import { expected } from '../runtime/errors.js';
import { Module } from './module.js';

export class ReLU extends Module {
  forward(g: Graph, x: number): number {
    return g.relu(x);
  }
}

export class Dropout extends Module {
  readonly p: number;

  /** Drops each element with probability p (default 0.5) and scales the kept ones by 1/(1−p). */
  constructor(p = 0.5) {
    super();
    if (typeof p !== 'number' || !(p >= 0 && p < 1)) throw expected('RN_INVALID_ARGUMENT', 'Dropout', 'p', 'a number in [0, 1)', String(p));
    this.p = p;
  }

  forward(g: Graph, x: number): number {
    return this.trainingIn(g) ? g.dropout(x, this.p) : x;
  }
}
