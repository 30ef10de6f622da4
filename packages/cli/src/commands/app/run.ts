/**
 * `qgjob app upload`: registers the build of an app version, either a local file (hashed
 * as a stream and uploaded only when the server does not hold it yet) or a URL the server
 * downloads itself. An app version has one build: registering another one is refused.
 */
import { openAsBlob } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { sha256File } from '@qgjob/bundle';
import { ApiError } from '@qgjob/client';
import { type AppBuild, type AppRegisterRequest, appRegisterErrors, formatSize } from '@qgjob/protocol';
import { type Context, createContext } from '../../context.js';
import { UnsupportedError, UsageError } from '../../errors.js';
import { throwFieldErrors } from '../../fields.js';
import { printJson } from '../../output.js';
import type { AppUploadOptions } from './definition.js';

const HELP = "see 'qgjob app upload --help'";
/** Stands in for the hash while the other fields are checked, before the file is read. */
const PLACEHOLDER_SHA256 = '0'.repeat(64);

/** The request without the hash, checked with the server's rules; throws a UsageError naming the flag. */
export function checkRequest(options: AppUploadOptions): AppRegisterRequest {
  const given = (value: string | undefined) => (value === undefined || value === '' ? undefined : value);
  const file = given(options.file);
  const url = given(options.url);
  if (file !== undefined && url !== undefined) {
    throw new UsageError('give either FILE or --url, not both', { hint: HELP });
  }
  if (file === undefined && url === undefined) {
    throw new UsageError('FILE or --url is required: the build to register for the app version', { hint: HELP });
  }
  const body: Record<string, unknown> = { org_id: options.orgId, app_version_id: options.appVersionId };
  const filename = given(options.filename);
  if (filename !== undefined && url === undefined) {
    throw new UsageError('--filename goes with --url (with FILE, the file name is used)', { hint: HELP });
  }
  if (url !== undefined) {
    body.url = url;
    if (filename !== undefined) body.filename = filename;
  } else {
    body.sha256 = PLACEHOLDER_SHA256;
    body.filename = basename(file as string);
  }
  for (const key of Object.keys(body)) if (body[key] === undefined) delete body[key];
  throwFieldErrors(appRegisterErrors(body), HELP);
  return body as AppRegisterRequest;
}

/** The absolute path of FILE; a UsageError naming FILE when it is missing or not a regular file. */
async function checkFile(file: string): Promise<string> {
  const path = resolve(file);
  const st = await stat(path).catch(() => undefined);
  if (!st?.isFile()) {
    throw new UsageError(`FILE ${file} ${st === undefined ? 'does not exist' : 'is not a file'}`, { hint: BUILD_HINT });
  }
  if (!(await isZip(path))) {
    throw new UsageError(
      `FILE ${file} is not an app build: .apk, .aab and .ipa files (and zipped .app bundles) are ZIP archives`,
      {
        hint: BUILD_HINT,
      },
    );
  }
  return path;
}

const BUILD_HINT = 'give the path of the built .apk, .aab or .ipa, or --url=URL for the server to download it';

/** Every installable build (APK, AAB, IPA, a zipped .app) starts with a ZIP local file header. */
async function isZip(path: string): Promise<boolean> {
  const handle = await open(path, 'r');
  try {
    const head = Buffer.alloc(4);
    const { bytesRead } = await handle.read(head, 0, 4, 0);
    return bytesRead === 4 && head.equals(Buffer.from([0x50, 0x4b, 0x03, 0x04]));
  } finally {
    await handle.close();
  }
}

/** Turns the server's refusals into messages that say what to do. */
function explain(error: unknown, url: string | undefined): never {
  if (!(error instanceof ApiError)) throw error;
  if (error.status === 404 && /^no route /.test(error.message)) {
    throw new UnsupportedError(`the qgjob server at ${error.url} does not take app builds (${error.message})`, {
      cause: error,
      hint: 'upgrade job-server',
    });
  }
  if (error.status === 409) {
    const message = error.message.replace(/\bapp_version_id\b/g, '--app-version-id');
    throw new UsageError(message, {
      cause: error,
      hint: message.includes('--app-version-id')
        ? undefined
        : 'a registered build never changes: register the new build under a new --app-version-id',
    });
  }
  if (error.code === 'fetch_failed') {
    throw new UsageError(error.message, {
      cause: error,
      hint: `check that the job-server can download ${url ?? 'the URL'}, or download it and upload the file instead`,
    });
  }
  if (error.code === 'hash_mismatch') {
    throw new UsageError(error.message, { cause: error, hint: 'the file changed while it was uploaded: upload again' });
  }
  if (error.status === 413) {
    throw new UsageError(`the qgjob server refused the build as too large (${error.message})`, { cause: error });
  }
  throw error;
}

async function uploadFile(
  ctx: Context,
  request: AppRegisterRequest,
  file: string,
): Promise<{ build: AppBuild; uploaded: boolean }> {
  const sha256 = await sha256File(file);
  const query = { org_id: request.org_id, kind: 'app' as const };
  let uploaded = false;
  try {
    if (!(await ctx.client.hasBlob(sha256, query))) {
      await ctx.client.putBlob(sha256, await openAsBlob(file), query);
      uploaded = true;
    }
    const build = await ctx.client.registerApp({ ...request, sha256 });
    return { build, uploaded };
  } catch (error) {
    explain(error, undefined);
  }
}

/** `app version VER (org ORG): build 1a2b3c4d5e6f (12.3 MiB, app.apk) uploaded`. */
export function describeUpload(build: AppBuild, uploaded: boolean, url: string | undefined): string {
  const state = !build.created
    ? 'already registered for this version'
    : uploaded
      ? 'uploaded'
      : url !== undefined
        ? `fetched by the server from ${url}`
        : 'already on the server';
  return `app version ${build.app_version_id} (org ${build.org_id}): build ${build.sha256.slice(0, 12)} (${formatSize(build.size)}, ${build.filename}) ${state}`;
}

export async function run(options: AppUploadOptions, signal: AbortSignal): Promise<number> {
  const request = checkRequest(options);
  const file = request.url === undefined ? await checkFile(options.file as string) : undefined;
  const ctx = createContext(options, signal);
  let result: { build: AppBuild; uploaded: boolean };
  if (file !== undefined) result = await uploadFile(ctx, request, file);
  else {
    try {
      result = { build: await ctx.client.registerApp(request), uploaded: false };
    } catch (error) {
      explain(error, request.url);
    }
  }
  if (ctx.json) printJson({ ...result.build, uploaded: result.uploaded });
  else process.stdout.write(`${describeUpload(result.build, result.uploaded, request.url)}\n`);
  return 0;
}
