/**
 * The way into a server that needs tokens. On a start without --open and without
 * QGJOB_ADMIN_TOKEN, when the store holds no active admin token, the server makes one and
 * writes its secret to a file only its user can read (0600), named in the start-up line: beside
 * the embedded store (./.qgjob/admin-token by default), in a scratch directory with --memory, or
 * in ./.qgjob with PostgreSQL (replicas starting together make one between them). Later starts
 * name the file again while the token in it still works.
 */
import { chmod, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { AuthService } from './services/auth.js';

export interface FirstAdminPlace {
  dataDir?: string;
  memory?: boolean;
  databaseUrl?: string;
}

export const ADMIN_TOKEN_FILE = 'admin-token';

/** Where the first admin token goes, or undefined for --memory (a fresh scratch directory). */
export function adminTokenPath(place: FirstAdminPlace): string | undefined {
  if (place.memory && !place.databaseUrl) return undefined;
  if (place.databaseUrl) return resolve('.qgjob', ADMIN_TOKEN_FILE);
  return join(dirname(resolve(place.dataDir ?? './.qgjob/data')), ADMIN_TOKEN_FILE);
}

/** Makes the first admin token if needed; returns what the start-up line says about tokens. */
export async function firstAdmin(auth: AuthService, place: FirstAdminPlace): Promise<string> {
  if (auth.open) return 'OPEN, no credentials';
  if (auth.options.adminToken) return 'tokens required; admin token from QGJOB_ADMIN_TOKEN';
  const made = await auth.bootstrapAdmin();
  let file = adminTokenPath(place);
  if (made) {
    if (file === undefined) file = join(await mkdtemp(join(tmpdir(), 'qgjob-')), ADMIN_TOKEN_FILE);
    else await mkdir(dirname(file), { recursive: true });
    await writeFile(file, `${made.token}\n`, { mode: 0o600 });
    await chmod(file, 0o600);
    return `tokens required; first admin token written to ${file} (only you can read it): QGJOB_TOKEN=$(cat ${file}) qgjob token create --kind=org --org-id=ORG --name=ci`;
  }
  if (file !== undefined && (await stillWorks(auth, file))) {
    return `tokens required; admin token in ${file}`;
  }
  return 'tokens required; an admin makes them with qgjob token create (or job-server token create while no server uses the store)';
}

async function stillWorks(auth: AuthService, file: string): Promise<boolean> {
  const token = await readFile(file, 'utf8').then(
    (text) => text.trim(),
    () => '',
  );
  if (!token) return false;
  return auth.authenticate(`Bearer ${token}`).then(
    (p) => p.kind === 'admin',
    () => false,
  );
}
