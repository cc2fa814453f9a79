// The data layer: CIFAR and bundled-digits readers, fb.resnet.torch's CIFAR transforms, a seeded RNG and the batch loader.
export {
  CIFAR10_NORMALIZATION,
  CIFAR100_NORMALIZATION,
  CIFAR10_RECORD,
  IMAGE_BYTES,
  type CifarDataset,
  type Dataset,
  type ImageSet,
  type RecordFormat,
  loadCifar,
  readCifarFiles,
} from './cifar.js';
export { DIGITS_NORMALIZATION, digitsDir, loadDigits } from './digits.js';
export { type Batch, BatchLoader, type BatchLoaderOptions, type LoaderState, type Shard } from './loader.js';
export { Rng, type RngState, randperm } from './random.js';
export { type Augmentation, type Normalization, type Placement, fillBatch, placementAt } from './transforms.js';
export { type EpochSource, type SourceOptions, type TrainingData, imageSetData } from './source.js';
export { type FolderBatch, type FolderData, type FolderDataOptions, FolderLoader, folderData } from './folder.js';
export { indexFolder } from './folder-index.js';
export { imagenetTransform, sumCropLogits } from './imagenet-transforms.js';
export { type JpegDecoder, nativeJpegLibrary } from './jpeg-crop.js';
