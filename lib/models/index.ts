// Model families built from depth tables.
export {
  resnet,
  resolveResNetOptions,
  ResNet,
  type BlockKind,
  type Dataset,
  type NetType,
  type ResNetConfig,
  type ResNetOptions,
  type ShortcutType,
} from './resnet.js';
export { modelInfo, type ModelInfo } from './info.js';
