/**
 * Where the build of a batch's app version is. An app version id that is already a URL
 * (`bs://4f2a…`, a BrowserStack upload) is used as it is; otherwise the --app-path template
 * is filled and resolved against --workdir (a template that yields a URL stays a URL).
 */
import { resolve } from 'node:path';
import type { Batch } from '@qgjob/protocol';
import { fillTemplate } from './template.js';

export const DEFAULT_APP_PATH = 'builds/{app_version_id}.apk';
export const APP_PATH_PLACEHOLDERS = ['app_version_id', 'target', 'org_id'];

const URL_LIKE = /^[a-z][a-z0-9+.-]*:\/\//i;

export function isUrlLike(path: string): boolean {
  return URL_LIKE.test(path);
}

export function resolveAppPath(template: string, batch: Batch, workdir: string): string {
  if (isUrlLike(batch.app_version_id)) return batch.app_version_id;
  const filled = fillTemplate(template, {
    // An id is one path segment: `a/../../x` must not climb out of the builds folder.
    app_version_id: batch.app_version_id.replace(/[/\\]/g, '_').replace(/^\.\.?$/, '_'),
    target: batch.target,
    org_id: batch.org_id,
  });
  return isUrlLike(filled) ? filled : resolve(workdir, filled);
}
