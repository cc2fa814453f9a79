// Size of a model at an input shape: parameter count, forward multiply-adds per image and output shape.
import { type Module, trace } from '../nn/module.js';

export interface ModelInfo {
  /** Learnable parameters, BN γ/β and biases included (torchvision's count). */
  params: number;
  /** Conv and linear multiply-adds of one forward pass for one image. */
  macsPerImage: number;
  /** Output shape for one image, without the batch dimension (e.g. [1000]). */
  outputShape: number[];
}

/** `inputShape` is one image's shape without the batch dimension, e.g. [3, 224, 224]. */
export function modelInfo(model: Module, inputShape: readonly number[]): ModelInfo {
  const { graph, output } = trace(model, inputShape, { mode: 'eval', batch: 1 });
  return { params: model.numParameters(), macsPerImage: graph.macs(), outputShape: graph.shape(output).slice(1) };
}
