// Containers: Sequential (Torch's nn.Sequential), Concat (nn.Concat on channels) and Identity.
import type { Graph } from '../graph/graph.js';
import { expected } from '../runtime/errors.js';
import { Module } from './module.js';

export type NamedModules = ReadonlyArray<readonly [string, Module]>;

/** Modules alone are named '0', '1', … (PyTorch's numbering); pairs keep their names. */
function named(owner: string, modules: ReadonlyArray<Module | readonly [string, Module]>): Array<readonly [string, Module]> {
  if (!Array.isArray(modules)) {
    throw expected(
      'RN_INVALID_ARGUMENT',
      owner,
      'modules',
      'an array of modules or [name, module] pairs',
      String(modules),
    );
  }
  return modules.map((m, i) => (m instanceof Module ? ([String(i), m] as const) : m));
}

export class Sequential extends Module {
  constructor(modules: ReadonlyArray<Module | readonly [string, Module]> = []) {
    super();
    for (const [name, m] of named('Sequential', modules)) this.addModule(name, m);
  }

  /** Appends `module` under `name` (default: its position). */
  add(module: Module, name: string = String(this.children.size)): this {
    this.addModule(name, module);
    return this;
  }

  forward(g: Graph, x: number): number {
    let y = x;
    for (const name of this.children.keys()) y = this.forwardChild(g, name, y);
    return y;
  }
}

/** Runs every branch on the same input and joins the outputs along channels. */
export class Concat extends Module {
  constructor(branches: ReadonlyArray<Module | readonly [string, Module]>) {
    super();
    const list = named('Concat', branches);
    if (list.length === 0) throw expected('RN_INVALID_ARGUMENT', 'Concat', 'branches', 'at least one module', '[]');
    for (const [name, m] of list) this.addModule(name, m);
  }

  forward(g: Graph, x: number): number {
    const parts = [...this.children.keys()].map((name) => this.forwardChild(g, name, x));
    return parts.length === 1 ? parts[0] : g.concat(parts);
  }
}

export class Identity extends Module {
  forward(_g: Graph, x: number): number {
    return x;
  }
}
