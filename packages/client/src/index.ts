export { type ClientOptions, parseServers, QgjobClient, type RequestOptions } from './client.js';
export { ApiError, UnreachableError } from './errors.js';
