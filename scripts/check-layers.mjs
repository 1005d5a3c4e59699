#!/usr/bin/env node
// Fails when src/ imports upward between layers, imports across two folders
// of the same layer, reaches `node:` outside the Node entry and the CLI, or
// holds an import cycle. Usage: node scripts/check-layers.mjs [src-dir]
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';

/** Bottom to top. A module may import its own folder or any lower layer. */
export const LAYERS = [
  ['errors.ts'],
  ['runtime', 'wasm'],
  ['format'],
  ['layout'],
  ['sources'],
  ['image', 'guest'], // guest/: the filesystems inside a disk (pure reading over a read function)
  ['edit'], // changing an existing file in place through its log (reads through image/)
  ['streams'],
  ['(entries)'], // the files directly in src/: index.ts and other entry points
  ['node'],
  ['cli'],
];

/** Folders whose modules may import Node's built-in modules. */
const NODE_ONLY = new Set(['node', 'cli']);

const BUILTINS = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

function unitOf(file, root) {
  const rel = relative(root, file).split(sep);
  return rel.length === 1 ? (rel[0] === 'errors.ts' ? 'errors.ts' : '(entries)') : rel[0];
}

function rankOf(unit) {
  const i = LAYERS.findIndex((layer) => layer.includes(unit));
  return i < 0 ? undefined : i;
}

function sourceFiles(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sourceFiles(path));
    else if (/\.(ts|mts)$/.test(name) && !name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

// import/export ... from '...', import '...', import('...'), require('...')
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(?\s*|\brequire\s*\(\s*)['"]([^'"]+)['"]/g;

function stripComments(text) {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
}

function resolveLocal(from, spec) {
  const base = resolve(dirname(from), spec);
  for (const candidate of [base.replace(/\.js$/, '.ts'), base.replace(/\.mjs$/, '.mts'), `${base}.ts`, join(base, 'index.ts'), base]) {
    try {
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // try the next spelling
    }
  }
  return undefined;
}

/** Every problem in the tree under `root`, as readable lines. */
export function checkLayers(root) {
  root = resolve(root);
  const problems = [];
  const graph = new Map();
  for (const file of sourceFiles(root)) {
    const unit = unitOf(file, root);
    const rank = rankOf(unit);
    const name = relative(root, file);
    if (rank === undefined) problems.push(`${name}: folder "${unit}" has no layer (add it to LAYERS in scripts/check-layers.mjs)`);
    const edges = [];
    for (const [, spec = ''] of stripComments(readFileSync(file, 'utf8')).matchAll(SPECIFIER)) {
      if (BUILTINS.has(spec) || spec.startsWith('node:')) {
        if (!NODE_ONLY.has(unit)) problems.push(`${name}: imports "${spec}", but only ${[...NODE_ONLY].join('/')} may use Node built-ins`);
        continue;
      }
      if (!spec.startsWith('.') || spec.endsWith('.wasm')) continue; // a package, the #wasm-source import, a .wasm asset
      const target = resolveLocal(file, spec);
      if (!target) {
        problems.push(`${name}: cannot resolve "${spec}"`);
        continue;
      }
      edges.push(target);
      const targetUnit = unitOf(target, root);
      const targetRank = rankOf(targetUnit);
      if (rank === undefined || targetRank === undefined || targetUnit === unit) continue;
      if (targetRank > rank) problems.push(`${name}: imports upward into ${targetUnit}/ ("${spec}"): ${unit} sits below ${targetUnit}`);
      else if (targetRank === rank) problems.push(`${name}: imports ${targetUnit}/ ("${spec}"), a folder of the same layer`);
    }
    graph.set(file, edges);
  }
  for (const cycle of findCycles(graph)) {
    problems.push(`import cycle: ${cycle.map((f) => relative(root, f)).join(' -> ')}`);
  }
  return problems;
}

/** One cycle per strongly connected component of more than one module (or a self-import). */
function findCycles(graph) {
  let index = 0;
  const indexOf = new Map();
  const low = new Map();
  const stack = [];
  const onStack = new Set();
  const cycles = [];
  const visit = (v) => {
    indexOf.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!indexOf.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v), indexOf.get(w)));
    }
    if (low.get(v) === indexOf.get(v)) {
      const component = [];
      let w;
      do {
        w = stack.pop();
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (graph.get(v) ?? []).includes(v)) cycles.push([...component.reverse(), component[0]]);
    }
  };
  for (const v of graph.keys()) if (!indexOf.has(v)) visit(v);
  return cycles;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const root = process.argv[2] ?? new URL('../src', import.meta.url).pathname;
  const problems = checkLayers(root);
  for (const p of problems) console.error(p);
  if (problems.length) {
    console.error(`${problems.length} layering problem${problems.length === 1 ? '' : 's'}`);
    process.exit(1);
  }
  console.log(`layers ok: ${relative(process.cwd(), root) || '.'}`);
}
