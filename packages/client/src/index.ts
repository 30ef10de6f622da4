export { type ClientOptions, parseServers, QgjobClient, type RequestOptions } from './client.js';
export { ApiError, isTransient, UnreachableError } from './errors.js';
export { MAX_WATCH_SECONDS, type Watched, type WatchOptions } from './watch.js';
