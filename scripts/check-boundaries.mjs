#!/usr/bin/env node
// Enforces the package layers of the design: a package imports only the packages to
// its left, never another package's files by path; SQL lives only in the server's
// store and db folders. Exits 1 with one line per violation.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const allowed = {
  protocol: [],
  bundle: [],
  client: ['protocol'],
  server: ['protocol'],
  cli: ['protocol', 'client', 'bundle'],
  agent: ['protocol', 'client', 'bundle'],
};
const names = {
  protocol: '@qgjob/protocol',
  bundle: '@qgjob/bundle',
  client: '@qgjob/client',
  server: '@qgjob/server',
  cli: 'qgjob',
  agent: '@qgjob/agent',
};

function files(dir) {
  const out = [];
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) out.push(...files(path));
    else if (/\.(ts|mts|js|mjs)$/.test(entry)) out.push(path);
  }
  return out;
}

const problems = [];
for (const [pkg, deps] of Object.entries(allowed)) {
  let list;
  try {
    list = files(join(root, 'packages', pkg, 'src'));
  } catch {
    continue;
  }
  for (const file of list) {
    const text = readFileSync(file, 'utf8');
    const rel = relative(root, file);
    for (const m of text.matchAll(/(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g)) {
      const spec = m[1];
      const target = Object.entries(names).find(([, name]) => spec === name || spec.startsWith(`${name}/`));
      if (target && target[0] !== pkg && !deps.includes(target[0])) {
        problems.push(`${rel}: ${pkg} must not import ${spec} (allowed: ${deps.join(', ') || 'nothing'})`);
      }
      if (
        spec.startsWith('.') &&
        /\.\.\/\.\.\/(\.\.\/)*(packages|protocol|bundle|client|server|cli|agent)\//.test(spec)
      ) {
        problems.push(`${rel}: reaches into another package by path (${spec})`);
      }
    }
    if (pkg === 'server' && /src\/(routes|services|http)\//.test(rel)) {
      if (/\b(SELECT\s+[\w*]|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM)\b/.test(text)) {
        problems.push(`${rel}: SQL belongs in src/store, not in routes or services`);
      }
    }
  }
}
if (problems.length > 0) {
  for (const p of problems) console.error(p);
  process.exit(1);
}
console.log('package boundaries: ok');
