export { QgjobClient } from './client.js';
export { ApiError, isTransient, UnreachableError } from './errors.js';
export { type ClientOptions, parseServers, type RequestOptions } from './transport.js';
export { MAX_WATCH_SECONDS, type Watched, type WatchOptions } from './watch.js';
