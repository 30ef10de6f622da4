export const DEFAULT_SERVER = 'http://localhost:8080';
/** Uncompressed bytes of file content a test bundle may hold. */
export const BUNDLE_MAX_BYTES = 100 * 1024 * 1024;
