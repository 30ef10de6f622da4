/**
 * What a run needs on the device besides the job itself: the app build and the test
 * sources. Both are blobs, content-addressed by SHA-256 and kept per org by the server:
 * - an app build is registered for an app version (`POST /v1/apps`), from an uploaded
 *   blob or a URL the server fetches; BrowserStack batches also get its `bs://` upload,
 *   made once per app version by one agent (`/v1/batches/{id}/browserstack-app`);
 * - a test bundle (a deterministic .tar.gz of test files, AppWright config and package
 *   files) is uploaded by `qgjob submit` and referenced by the jobs it creates.
 */
import { type Static, Type } from '@sinclair/typebox';
import { AppVersionId, OrgId, Sha256 } from './schemas.js';

export const BLOB_KINDS = ['app', 'bundle'] as const;
export type BlobKind = (typeof BLOB_KINDS)[number];

export const BlobKindSchema = Type.Union(
  BLOB_KINDS.map((k) => Type.Literal(k)),
  { description: 'app: an app build; bundle: test sources packed by qgjob submit.' },
);

export const BlobParams = Type.Object({ sha256: Sha256 });
export type BlobParams = Static<typeof BlobParams>;

export const BlobQuery = Type.Object(
  {
    /** The org the blob belongs to; taken from the token when one is used. */
    org_id: Type.Optional(OrgId),
    kind: Type.Optional(BlobKindSchema),
  },
  { additionalProperties: false },
);
export type BlobQuery = Static<typeof BlobQuery>;

export const BlobInfo = Type.Object({
  sha256: Type.String(),
  org_id: Type.String(),
  kind: BlobKindSchema,
  size: Type.Integer(),
  /** True when this request stored new bytes; false when the server already had them. */
  uploaded: Type.Boolean(),
});
export type BlobInfo = Static<typeof BlobInfo>;

const BuildFilename = Type.String({
  pattern: '^[^/\\\\\\x00-\\x1f]{1,255}$',
  description: 'File name of the build (no directory), kept for installs that care about the extension.',
  errorMessage: 'must be a file name of 1-255 characters without / or \\',
});

const FetchUrl = Type.String({
  pattern: '^https?://[^\\s]{1,2040}$',
  description: 'An http(s) URL the server downloads the build from.',
  errorMessage: 'must be an http:// or https:// URL without spaces',
});

export const AppRegisterRequest = Type.Object(
  {
    org_id: OrgId,
    app_version_id: AppVersionId,
    /** A blob of kind app already uploaded with PUT /v1/blobs/{sha256}. */
    sha256: Type.Optional(Sha256),
    /** Or: the server fetches the build from this URL. */
    url: Type.Optional(FetchUrl),
    filename: Type.Optional(BuildFilename),
  },
  { additionalProperties: false, 'x-qgjob-check': 'app' },
);
export type AppRegisterRequest = Static<typeof AppRegisterRequest>;

const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);

export const AppBuild = Type.Object({
  org_id: Type.String(),
  app_version_id: Type.String(),
  sha256: Type.String(),
  size: Type.Integer(),
  filename: Type.String(),
  source_url: Nullable(Type.String()),
  /** Its uploads to BrowserStack, one per account, made by agents as batches needed them. */
  browserstack: Type.Array(
    Type.Object({ account: Type.String(), url: Type.String(), uploaded_at: Type.String({ format: 'date-time' }) }),
  ),
  created_at: Type.String({ format: 'date-time' }),
  /** False when this exact build was already registered for the version. */
  created: Type.Boolean(),
});
export type AppBuild = Static<typeof AppBuild>;

export const AppQuery = Type.Object(
  {
    org_id: Type.Optional(
      Type.String({
        pattern: OrgId.pattern,
        errorMessage: OrgId.errorMessage,
        description:
          'The org of the app version: taken from an org token; required with an admin token or in open mode (else 400).',
      }),
    ),
    app_version_id: AppVersionId,
  },
  { additionalProperties: false },
);
export type AppQuery = Static<typeof AppQuery>;

/** The build of a batch's app version, as the agent needs it. */
export const BatchApp = Type.Object({
  sha256: Type.String(),
  size: Type.Integer(),
  filename: Type.String(),
  /** Set when a BrowserStack upload of this build is known and still fresh. */
  browserstack_url: Nullable(Type.String()),
});
export type BatchApp = Static<typeof BatchApp>;

export const BROWSERSTACK_APP_STATES = ['ready', 'upload', 'wait'] as const;

/**
 * `ready`: use browserstack_url. `upload`: this batch holds the upload lease — upload the
 * build and PUT the result. `wait`: another agent is uploading; ask again after retry_ms.
 */
export const BrowserStackAppResponse = Type.Object({
  state: Type.Union(BROWSERSTACK_APP_STATES.map((s) => Type.Literal(s))),
  browserstack_url: Nullable(Type.String()),
  retry_ms: Type.Integer(),
  /** How long an upload lease lasts before another agent may take over. */
  lease_ms: Type.Integer(),
});
export type BrowserStackAppResponse = Static<typeof BrowserStackAppResponse>;

export const BrowserStackUrl = Type.String({
  pattern: '^bs://[\\x21-\\x7e]{1,200}$',
  errorMessage: 'must be a bs:// URL as BrowserStack returns it',
});

export const BrowserStackAppResult = Type.Object(
  {
    browserstack_url: Type.Optional(BrowserStackUrl),
    /** The upload failed: the lease is released so another batch may try. */
    error: Type.Optional(Type.String({ maxLength: 4000 })),
  },
  { additionalProperties: false },
);
export type BrowserStackAppResult = Static<typeof BrowserStackAppResult>;

/** A BrowserStack account's parallel-session limit, read by an agent from the plan endpoint. */
export const BrowserStackAccount = Type.Object(
  {
    /** The BrowserStack username (not secret): devices of every agent using it share the limit. */
    account: Type.String({ pattern: '^[\\x21-\\x7e]{1,128}$', errorMessage: 'must be 1-128 printable characters' }),
    /** parallel_sessions_max_allowed of the account's plan; absent when the plan could not be read (the last known limit stays). */
    parallel_limit: Type.Optional(Type.Integer({ minimum: 0, maximum: 100_000 })),
  },
  { additionalProperties: false },
);
export type BrowserStackAccount = Static<typeof BrowserStackAccount>;
