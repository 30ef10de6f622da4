#!/usr/bin/env node
// Room sizes: no source file under packages/*/src over MAX_FILE lines, no function (declaration,
// method, arrow or function expression) over MAX_FUNCTION lines. Prints the offenders and exits 1.
// `node scripts/check-sizes.mjs --top=N` lists the N longest files and functions instead.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';

const MAX_FILE = 400;
const MAX_FUNCTION = 80;
const root = new URL('..', import.meta.url).pathname;
const top = Number(process.argv.find((a) => a.startsWith('--top='))?.slice(6) ?? 0);

function* sources(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* sources(path);
    else if (/\.(ts|js|mjs)$/.test(entry.name) && !entry.name.endsWith('.d.ts')) yield path;
  }
}

function functionsOf(file, text) {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const found = [];
  const visit = (node) => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body) {
      const start = source.getLineAndCharacterOfPosition(node.getStart(source)).line;
      const end = source.getLineAndCharacterOfPosition(node.getEnd()).line;
      const name = node.name?.getText(source) ?? nameFromParent(node, source);
      found.push({ name, line: start + 1, lines: end - start + 1 });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

function nameFromParent(node, source) {
  const parent = node.parent;
  if (parent && (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent))) {
    return parent.name.getText(source);
  }
  return '(anonymous)';
}

const files = [];
const functions = [];
for (const pkg of readdirSync(join(root, 'packages'))) {
  let paths;
  try {
    paths = [...sources(join(root, 'packages', pkg, 'src'))];
  } catch {
    continue;
  }
  for (const path of paths) {
    const text = readFileSync(path, 'utf8');
    const file = relative(root, path);
    files.push({ file, lines: text.split('\n').length - (text.endsWith('\n') ? 1 : 0) });
    for (const fn of functionsOf(file, text)) functions.push({ file, ...fn });
  }
}

if (top > 0) {
  const byLines = (a, b) => b.lines - a.lines;
  console.log('longest files:');
  for (const f of files.sort(byLines).slice(0, top)) console.log(`  ${f.lines}\t${f.file}`);
  console.log('longest functions:');
  for (const f of functions.sort(byLines).slice(0, top)) {
    console.log(`  ${f.lines}\t${f.file}:${f.line} ${f.name}`);
  }
  process.exit(0);
}

const bigFiles = files.filter((f) => f.lines > MAX_FILE);
const bigFunctions = functions.filter((f) => f.lines > MAX_FUNCTION);
for (const f of bigFiles) console.error(`${f.file}: ${f.lines} lines (at most ${MAX_FILE})`);
for (const f of bigFunctions) {
  console.error(`${f.file}:${f.line}: ${f.name} is ${f.lines} lines (at most ${MAX_FUNCTION})`);
}
if (bigFiles.length > 0 || bigFunctions.length > 0) {
  console.error("split the room: see the README's layout section for where things live");
  process.exit(1);
}
console.log(`room sizes: ok (${files.length} files ≤ ${MAX_FILE} lines, functions ≤ ${MAX_FUNCTION})`);
