/**
 * Test artifacts: the files a test left in its run's output dir (screenshots, videos,
 * traces, attachments). The agent uploads each one while the run is running
 * (`PUT /v1/batches/{id}/artifacts?job_id=…&name=…`, raw bytes); anyone who may read the
 * job lists them (`GET /v1/jobs/{id}/artifacts`, and `runs[].artifacts` of the job) and
 * downloads them (`GET /v1/jobs/{id}/runs/{n}/artifacts/{name}`).
 *
 * The server hashes the bytes and keeps them once per org and SHA-256, like builds and
 * bundles. A name is a relative POSIX path inside the output dir; uploading a name again
 * for the same run replaces it. Each run keeps at most `ARTIFACT_LIMITS.runFiles` files
 * and `ARTIFACT_LIMITS.runBytes` bytes, each file at most `ARTIFACT_LIMITS.fileBytes`.
 */
import { type Static, Type } from '@sinclair/typebox';

const MiB = 1024 * 1024;

export const ARTIFACT_LIMITS = {
  /** Largest file. */
  fileBytes: 50 * MiB,
  /** Bytes one run keeps over all its files. */
  runBytes: 200 * MiB,
  /** Files one run keeps. */
  runFiles: 100,
} as const;
export type ArtifactLimits = { [K in keyof typeof ARTIFACT_LIMITS]: number };

export const ARTIFACT_NAME_MAX_LENGTH = 255;

/**
 * Relative POSIX path: 1-255 characters, no leading '/', no empty, '.' or '..' segment
 * (so it is the same path after URL normalisation), no backslash or control character.
 */
export const ArtifactName = Type.String({
  pattern: `^(?=.{1,${ARTIFACT_NAME_MAX_LENGTH}}$)(?!/)(?!.*//)(?!.*/$)(?!(?:.*/)?\\.{1,2}(?:/|$))[^\\\\\\x00-\\x1f\\x7f]+$`,
  description:
    "Path of the file inside the run's output dir, e.g. `login-spec/test-failed-1.png`: relative, '/' between " +
    "segments, 1-255 characters, no '.' or '..' segment, no backslash or control character.",
  errorMessage:
    "must be a relative path inside the run's output dir (no leading '/', no empty, '.' or '..' segment, no backslash or control character), 1-255 characters",
  examples: ['login-spec/test-failed-1.png'],
});

const NAME = new RegExp(ArtifactName.pattern as string);

/** True when `name` is a name the server accepts (and so stays inside a directory it is written below). */
export function isArtifactName(name: string): boolean {
  return NAME.test(name);
}

export const RunArtifact = Type.Object({
  name: Type.String({ description: "Path inside the run's output dir." }),
  size: Type.Integer({ description: 'Bytes.' }),
  sha256: Type.String({ description: 'SHA-256 of the bytes, computed by the server.' }),
  content_type: Type.String({ description: 'As uploaded; application/octet-stream when none was given.' }),
  created_at: Type.String({ format: 'date-time', description: 'When it was uploaded (last, when replaced).' }),
});
export type RunArtifact = Static<typeof RunArtifact>;

export const RunArtifactUpload = Type.Object({
  ...RunArtifact.properties,
  uploaded: Type.Boolean({ description: 'True when this request stored new bytes; false when the org held them.' }),
});
export type RunArtifactUpload = Static<typeof RunArtifactUpload>;

export const ArtifactUploadQuery = Type.Object(
  {
    job_id: Type.String({
      minLength: 1,
      maxLength: 64,
      description: 'The job whose running run in this batch gets it.',
    }),
    name: ArtifactName,
  },
  { additionalProperties: false },
);
export type ArtifactUploadQuery = Static<typeof ArtifactUploadQuery>;

export const RunArtifacts = Type.Object({
  n: Type.Integer({ description: 'The run (attempt number, from 1).' }),
  artifacts: Type.Array(RunArtifact, { description: 'By name.' }),
});
export type RunArtifacts = Static<typeof RunArtifacts>;

export const JobArtifacts = Type.Object({
  job_id: Type.String(),
  runs: Type.Array(RunArtifacts, { description: 'Every run of the job, in order, with the files it left.' }),
});
export type JobArtifacts = Static<typeof JobArtifacts>;

export const ArtifactParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 64 }),
  n: Type.Integer({ minimum: 1, maximum: 1_000_000, description: 'The run (attempt number, from 1).' }),
  '*': Type.String({ description: 'The artifact name; may hold `/`.' }),
});
export type ArtifactParams = Static<typeof ArtifactParams>;
