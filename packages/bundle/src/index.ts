/**
 * Test source bundles: the CLI packs test files into a deterministic, content-addressed
 * .tar.gz; agents unpack it, with strict safety checks and limits, into a cache and can
 * verify the cached tree later. Node built-ins only.
 */
export { BundleError, type BundleErrorCode } from './errors.js';
export { sha256File, type TreeFile, type VerifyResult, verifyTree } from './hash.js';
export { type PackEntry, type PackOptions, type PackResult, packBundle } from './pack.js';
export { isSafeBundlePath } from './paths.js';
export { DEFAULT_UNPACK_LIMITS, type UnpackLimits, type UnpackResult, unpackBundle } from './unpack.js';
