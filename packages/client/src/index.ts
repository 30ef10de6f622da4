export { type ClientOptions, parseServers, QgjobClient, type RequestOptions } from './client.js';
export { ApiError, isTransient, UnreachableError } from './errors.js';
