export * from './agent.js';
export * from './constants.js';
export * from './duration.js';
export * from './errors.js';
export * from './logs.js';
export * from './operability.js';
export * from './schemas.js';
export * from './validate.js';
