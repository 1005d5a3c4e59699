// The public surface: what each entry exports, and that every export is
// documented (functions and classes also say what they throw).
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  convertRawFileToChild,
  convertRawFileToVhdx,
  convertRawStreamToChild,
  convertVhdxFileToRaw,
  createChildFile,
  openVhdx,
  VhdxEncoderStream,
} from '../src/node/index.js';
import { tempDir } from './helpers/tools.js';

const MiB = 1024 * 1024;

const ROOT = new URL('..', import.meta.url).pathname;
const ENTRIES = { '.': 'src/index.ts', './node': 'src/node/index.ts', './format': 'src/format/index.ts' } as const;

function exportsOf() {
  const files = Object.values(ENTRIES).map((e) => ROOT + e);
  const config = ts.getParsedCommandLineOfConfigFile(`${ROOT}tsconfig.json`, {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic() {} })!;
  const program = ts.createProgram(files, config.options);
  const checker = program.getTypeChecker();
  const out: Record<string, { name: string; doc: string; tags: string[]; callable: boolean; throws: boolean }[]> = {};
  for (const [entry, file] of Object.entries(ENTRIES)) {
    const module = checker.getSymbolAtLocation(program.getSourceFile(ROOT + file)!)!;
    out[entry] = checker.getExportsOfModule(module).map((exported) => {
      const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
      return {
        name: exported.name,
        doc: ts.displayPartsToString(symbol.getDocumentationComment(checker)).trim(),
        tags: symbol.getJsDocTags(checker).map((t) => t.name),
        callable: (symbol.flags & (ts.SymbolFlags.Function | ts.SymbolFlags.Class)) !== 0,
        // whether its own code throws (what it calls is the doc writer's business)
        throws: (symbol.declarations ?? []).some((d) => /\bthrow\b/.test(d.getText())),
      };
    });
  }
  return out;
}

const api = exportsOf();

describe('public surface', () => {
  it('the root entry exports what users call, not the structure codecs or byte helpers', () => {
    const names = api['.']!.map((e) => e.name).sort();
    for (const wanted of [
      'VhdxEncoderStream',
      'VhdxDecoderStream',
      'VhdxWriterStream',
      'openVhdx',
      'checkVhdx',
      'scanAllocation',
      'crc32c',
      'combineCrc32c',
      'crc32cBase64',
      'isAllZero',
      'VhdxError',
    ]) {
      expect(names).toContain(wanted);
    }
    for (const gone of ['format', 'KiB', 'hex', 'dataView', 'readAscii', 'openSource', 'memorySource', 'parseHeader'])
      expect(names).not.toContain(gone);
  });

  it('the format subpath holds the codecs without the byte helpers', () => {
    const names = api['./format']!.map((e) => e.name);
    for (const wanted of [
      'parseHeader',
      'serializeHeader',
      'parseRegionTable',
      'parseMetadataTable',
      'readBatEntry',
      'parseLogEntryHeader',
      'GUIDS',
    ]) {
      expect(names).toContain(wanted);
    }
    for (const gone of ['KiB', 'MiB', 'hex', 'dataView', 'readAscii', 'writeAscii', 'readU64', 'readUtf16'])
      expect(names).not.toContain(gone);
  });

  it('the node entry is the root entry plus paths and file converters', () => {
    const names = new Set(api['./node']!.map((e) => e.name));
    for (const e of api['.']!) expect(names.has(e.name)).toBe(true);
    expect(names.has('convertRawFileToVhdx')).toBe(true);
    expect(names.has('convertVhdxFileToRaw')).toBe(true);
  });

  it.each(Object.keys(ENTRIES))('every export of "%s" has TSDoc, and every function and class says what it throws', (entry) => {
    const undocumented = api[entry]!.filter((e) => !e.doc).map((e) => e.name);
    // users call everything on the root and node entries with untrusted input: each says what it throws;
    // the codecs' pure arithmetic cannot throw, so there only code that throws must say so
    const mustSay = (e: { name: string; callable: boolean; throws: boolean }) =>
      e.callable && e.name !== 'VhdxError' && (entry !== './format' || e.throws);
    const silent = api[entry]!.filter((e) => mustSay(e) && !e.tags.includes('throws')).map((e) => e.name);
    expect({ undocumented, silent }).toEqual({ undocumented: [], silent: [] });
  });
});

describe('the file converters take only their own options', () => {
  const dir = tempDir('vhdx-options-');
  afterAll(() => dir.cleanup());
  const raw = join(dir.path, 'disk.raw');
  const base = join(dir.path, 'base.vhdx');
  beforeAll(async () => {
    writeFileSync(raw, new Uint8Array(MiB).fill(7));
    await convertRawFileToVhdx(raw, base, { blockSize: MiB });
  });

  it('convertRawFileToVhdx refuses a parent (a child is convertRawFileToChild), before creating anything', async () => {
    const out = join(dir.path, 'child.avhdx');
    const parent = await openVhdx(base);
    // @ts-expect-error `parent` is not an option of convertRawFileToVhdx
    const made = convertRawFileToVhdx(raw, out, { parent });
    await expect(made).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      reason: 'invalid-option',
      message: /parent.*convertRawFileToChild/,
    });
    expect(existsSync(out)).toBe(false);
    await parent.close();
  });

  it('convertVhdxFileToRaw refuses creation options it would ignore, and unknown keys', async () => {
    const out = join(dir.path, 'flat.raw');
    // @ts-expect-error `blockSize` is a VHDX creation option
    await expect(convertVhdxFileToRaw(base, out, { blockSize: MiB })).rejects.toMatchObject({ reason: 'invalid-option' });
    // @ts-expect-error not an option at all (a typo of chunkSize)
    await expect(convertVhdxFileToRaw(base, out, { chunksize: MiB })).rejects.toMatchObject({ reason: 'invalid-option' });
    expect(existsSync(out)).toBe(false);
    // what it takes still works, and an option given as undefined is as if absent
    const givenUndefined: Record<string, unknown> = { chunkSize: MiB, parent: undefined };
    await expect(convertVhdxFileToRaw(base, out, givenUndefined)).resolves.toMatchObject({ virtualSize: MiB });
  });

  it('VhdxEncoderStream refuses a parent (a child is written at positions, by VhdxWriterStream) and unknown keys', async () => {
    const parent = await openVhdx(base);
    // @ts-expect-error `parent` is not an option of the one-pass encoder
    expect(() => new VhdxEncoderStream({ virtualSize: MiB, parent })).toThrow(/parent.*VhdxWriterStream/);
    // @ts-expect-error a typo of blockSize
    expect(() => new VhdxEncoderStream({ virtualSize: MiB, blocksize: MiB })).toThrow(
      expect.objectContaining({ reason: 'invalid-option' }),
    );
    expect(new VhdxEncoderStream({ virtualSize: MiB, blockSize: MiB }).outputSize).toBeGreaterThan(MiB);
    await parent.close();
  });

  it('the child writers refuse what they would ignore: a chain option belongs in `open`', async () => {
    const out = join(dir.path, 'child.avhdx');
    // @ts-expect-error ignoreLinkage is an option of opening the parent
    await expect(convertRawFileToChild(raw, out, base, { ignoreLinkage: true })).rejects.toMatchObject({
      reason: 'invalid-option',
      message: /ignoreLinkage.*open/,
    });
    // @ts-expect-error as above
    await expect(createChildFile(out, base, { ignoreLinkage: true })).rejects.toMatchObject({ reason: 'invalid-option' });
    // @ts-expect-error as above
    await expect(convertRawStreamToChild(new Blob([raw]).stream(), out, base, { ignoreLinkage: true })).rejects.toMatchObject({
      reason: 'invalid-option',
    });
    expect(existsSync(out)).toBe(false);
    await expect(createChildFile(out, base, { open: { ignoreLinkage: true } })).resolves.toMatchObject({ virtualSize: MiB });
  });
});
