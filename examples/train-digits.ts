// The README's API example: train a CIFAR ResNet-20 on the bundled digits in about ten lines.
import { Trainer, attachProgress, data, models } from 'resnet-node';

const digits = data.imageSetData(await data.loadDigits());
const trainer = new Trainer({
  model: models.resnet({ depth: 20, dataset: 'cifar10', numClasses: digits.classes }),
  data: digits,
  batchSize: 128,
  epochs: 12,
  schedule: { name: 'fb', lr: 0.1, dataset: 'digits' },
  optimizer: { name: 'sgd', momentum: 0.9, nesterov: true, weightDecay: 1e-4 },
  save: 'checkpoints/digits',
});
attachProgress(trainer, 'lines');
const end = await trainer.fit(); // typed events: start, batch, epoch, validation, checkpoint, skip, end
console.log(`test top-1 error ${end.testTop1.toFixed(2)}%`);
trainer.dispose();
