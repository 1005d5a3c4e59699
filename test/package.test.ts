// What a user of the built package gets (dist/, as `npm pack` ships it): the
// types of the three entries compile for a Node project with
// `"types": ["node"]` and skipLibCheck off, every type an export's signature
// names is exported too, no @internal member ships, and every source map
// carries its sources (the package ships no src/).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DIST = join(ROOT, 'dist');
const ENTRIES = ['vhdx-stream', 'vhdx-stream/node', 'vhdx-stream/format'];

function filesUnder(dir: string, suffix: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith(suffix))
    .map((f) => join(dir, f));
}

/** A program over one file in the package's folder that imports every entry by name, as a user's project would. */
function userProgram(entries: string[], options: ts.CompilerOptions, usage = ''): { program: ts.Program; file: string } {
  const file = join(ROOT, '__user__.ts');
  const text = entries.map((e, i) => `import * as entry${i} from '${e}';\nexport { entry${i} };\n`).join('') + usage;
  const compilerOptions: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    typeRoots: [join(ROOT, 'node_modules/@types')],
    strict: true,
    skipLibCheck: false,
    noEmit: true,
    ...options,
  };
  const host = ts.createCompilerHost(compilerOptions);
  const { fileExists, readFile, getSourceFile } = host;
  host.fileExists = (f) => f === file || fileExists.call(host, f);
  host.readFile = (f) => (f === file ? text : readFile.call(host, f));
  host.getSourceFile = (f, lang, ...rest) => (f === file ? ts.createSourceFile(f, text, lang) : getSourceFile.call(host, f, lang, ...rest));
  return { program: ts.createProgram([file], compilerOptions, host), file };
}

/** Exported functions and classes whose signatures name a type the same entry does not export. */
function unexportedTypes(program: ts.Program, file: string): string[] {
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(file)!;
  const fromPackage = (sym: ts.Symbol) => (sym.declarations ?? []).some((d) => d.getSourceFile().fileName.startsWith(DIST));
  const resolve = (sym: ts.Symbol) => (sym.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(sym) : sym);
  const found = new Set<string>();
  const imports = source.statements.filter(ts.isImportDeclaration);
  for (const [i, decl] of imports.entries()) {
    const moduleSymbol = checker.getSymbolAtLocation(decl.moduleSpecifier)!;
    const exported = new Set(checker.getExportsOfModule(moduleSymbol).map(resolve));
    const seen = new Set<ts.Type>();
    const visit = (type: ts.Type, from: string): void => {
      if (seen.has(type)) return;
      seen.add(type);
      const named = type.aliasSymbol ?? type.getSymbol();
      if (
        named &&
        fromPackage(named) &&
        (type.aliasSymbol || named.flags & (ts.SymbolFlags.Interface | ts.SymbolFlags.Class | ts.SymbolFlags.Enum))
      ) {
        if (!exported.has(named)) found.add(`${ENTRIES[i]}: ${from} names ${named.name}`);
        for (const arg of type.aliasTypeArguments ?? []) visit(arg, from);
        return;
      }
      if (type.isUnionOrIntersection()) for (const t of type.types) visit(t, from);
      for (const arg of checker.getTypeArguments(type as ts.TypeReference) ?? []) visit(arg, from);
      if (named && !fromPackage(named)) return; // a lib or @types/node type: only its arguments matter
      if (type.flags & ts.TypeFlags.Object) {
        for (const sig of [...type.getCallSignatures(), ...type.getConstructSignatures()]) visitSignature(sig, from);
        for (const prop of type.getProperties()) visit(checker.getTypeOfSymbol(prop), `${from}.${prop.name}`);
      }
    };
    const visitSignature = (sig: ts.Signature, from: string) => {
      for (const p of sig.getParameters()) visit(checker.getTypeOfSymbol(p), `${from}(${p.name})`);
      visit(sig.getReturnType(), `${from}()`);
    };
    const isPrivate = (sym: ts.Symbol) =>
      (sym.declarations ?? []).some((d) => ts.getCombinedModifierFlags(d) & ts.ModifierFlags.Private) || sym.name.startsWith('#');
    /** The members of an exported class or interface (its own type, and a class's static side). */
    const visitMembers = (type: ts.Type, from: string) => {
      for (const sig of [...type.getCallSignatures(), ...type.getConstructSignatures()]) visitSignature(sig, from);
      for (const prop of type.getProperties()) if (!isPrivate(prop)) visit(checker.getTypeOfSymbol(prop), `${from}.${prop.name}`);
    };
    for (const sym of exported) {
      if (!fromPackage(sym)) continue;
      if (sym.flags & (ts.SymbolFlags.Function | ts.SymbolFlags.Class | ts.SymbolFlags.Variable))
        visitMembers(checker.getTypeOfSymbol(sym), sym.name);
      if (sym.flags & (ts.SymbolFlags.Class | ts.SymbolFlags.Interface)) visitMembers(checker.getDeclaredTypeOfSymbol(sym), sym.name);
      if (sym.flags & ts.SymbolFlags.TypeAlias) {
        const alias = checker.getDeclaredTypeOfSymbol(sym);
        seen.add(alias);
        if (alias.isUnionOrIntersection()) for (const t of alias.types) visit(t, sym.name);
        else if (!alias.aliasSymbol || alias.aliasSymbol === sym) visitMembers(alias, sym.name);
      }
    }
  }
  return [...found].sort();
}

function errorsOf(program: ts.Program): string[] {
  return ts
    .getPreEmitDiagnostics(program)
    .map((d) => `${d.file?.fileName.slice(ROOT.length) ?? ''}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
}

describe('the built package (dist/)', () => {
  // the settings the README gives a Node project; skipLibCheck off so every .d.ts is checked
  // and the constructors as a user calls them (a stripped constructor would leave the base class's)
  const usage = `
    export const writer = new entry1.VhdxWriterStream('out.vhdx', { virtualSize: 1 << 20, blockSize: 1 << 20 });
    export const web = new entry0.VhdxWriterStream({ write() {} }, { virtualSize: 1 << 20 });
    // @ts-expect-error an image is made by openVhdx, not constructed
    new entry0.VhdxImage();
  `;
  const node = userProgram(ENTRIES, { lib: ['lib.es2023.d.ts', 'lib.dom.d.ts'], types: ['node'] }, usage);

  it('has types that compile for a Node project with the README\'s "lib" and "types", skipLibCheck off', () => {
    expect(errorsOf(node.program)).toEqual([]);
  });

  it('has a default entry whose types compile in a browser project (no @types/node)', () => {
    const browser = userProgram(['vhdx-stream', 'vhdx-stream/format'], { lib: ['lib.es2023.d.ts', 'lib.dom.d.ts'], types: [] });
    expect(errorsOf(browser.program)).toEqual([]);
  });

  it('exports every type that an exported function or class names in its signatures', () => {
    expect(unexportedTypes(node.program, node.file)).toEqual([]);
  });

  it('ships no @internal member in its .d.ts', () => {
    const files = filesUnder(DIST, '.d.ts');
    expect(files.length).toBeGreaterThan(20);
    expect(files.filter((f) => readFileSync(f, 'utf8').includes('@internal')).map((f) => f.slice(DIST.length))).toEqual([]);
  });

  it('has source maps that carry their sources', () => {
    const maps = filesUnder(DIST, '.js.map');
    expect(maps.length).toBeGreaterThan(20);
    const without = maps.filter((f) => {
      const map = JSON.parse(readFileSync(f, 'utf8')) as { sources: string[]; sourcesContent?: (string | null)[] };
      return map.sourcesContent?.length !== map.sources.length || map.sourcesContent.some((s) => typeof s !== 'string' || s === '');
    });
    expect(without.map((f) => f.slice(DIST.length))).toEqual([]);
  });
});
