// Optimizers and learning-rate schedules for training programs.
export { OPTIMIZERS, optimizerSpec, type OptimizerName, type OptimizerOptions } from './optimizers.js';
export { learningRate, checkSchedule, type ScheduleName, type ScheduleOptions } from './schedule.js';
