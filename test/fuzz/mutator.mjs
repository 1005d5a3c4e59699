// A structure-aware mutator for VHDX files. It knows where every structure
// sits (headers, region tables, metadata table and items, the parent
// locator's key/value entries, BAT entries and a differencing file's sector
// bitmap entries and blocks, log entries with their descriptors and data
// sectors), sets fields to boundary values or flips bits, sets HasParent on
// files that have no locator, truncates or extends at structure boundaries,
// and then fixes the checksums so mutations reach past the checksum checks.
// Plain JS so that both the vitest campaign and `npm run fuzz` can use it.

const KiB = 1024;
const MiB = 1024 * KiB;
const BAT_GUID = [0x66, 0x77, 0xc2, 0x2d, 0x23, 0xf6, 0x00, 0x42];
const META_GUID = [0x06, 0xa2, 0x7c, 0x8b, 0x90, 0x47, 0x9a, 0x4b];
const FILE_PARAMETERS_GUID = [0x37, 0x67, 0xa1, 0xca, 0x36, 0xfa, 0x43, 0x4d];
const LOGICAL_SECTOR_GUID = [0x1d, 0xbf, 0x41, 0x81, 0x6f, 0xa9, 0x09, 0x47];
const PARENT_LOCATOR_GUID = [0x2d, 0x5f, 0xd3, 0xa8, 0x0b, 0xb3, 0x4d, 0x45];
const isGuid = (file, at, prefix) => prefix.every((x, j) => file[at + j] === x);

/** Deterministic PRNG (mulberry32), so a seed reproduces a case. */
export function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const u32 = (b, o) => (o + 4 <= b.length ? new DataView(b.buffer, b.byteOffset + o, 4).getUint32(0, true) : 0);
const u64 = (b, o) => (o + 8 <= b.length ? u32(b, o) + u32(b, o + 4) * 4294967296 : 0);
const sig = (b, o, s) => o + s.length <= b.length && [...s].every((c, i) => b[o + i] === c.charCodeAt(0));

/** Fields of the file, as { at, width, name }. Offsets that fall outside the file are dropped. */
export function structureFields(file) {
  const f = [];
  const add = (at, width, name) => {
    if (at >= 0 && at + width <= file.length) f.push({ at, width, name });
  };
  for (const [h, base] of [
    [1, 64 * KiB],
    [2, 128 * KiB],
  ]) {
    add(base, 4, `header ${h} signature`);
    add(base + 8, 8, `header ${h} sequence_number`);
    add(base + 48, 16, `header ${h} log_guid`);
    add(base + 64, 2, `header ${h} log_version`);
    add(base + 66, 2, `header ${h} version`);
    add(base + 68, 4, `header ${h} log_length`);
    add(base + 72, 8, `header ${h} log_offset`);
  }
  const regions = {};
  for (const [t, base] of [
    [1, 192 * KiB],
    [2, 256 * KiB],
  ]) {
    add(base + 8, 4, `region table ${t} entry_count`);
    const count = Math.min(u32(file, base + 8), 8);
    for (let i = 0; i < count; i++) {
      const e = base + 16 + i * 32;
      add(e, 16, `region table ${t} entry ${i} guid`);
      add(e + 16, 8, `region table ${t} entry ${i} file_offset`);
      add(e + 24, 4, `region table ${t} entry ${i} length`);
      add(e + 28, 4, `region table ${t} entry ${i} flags`);
      if (t === 1 && e + 32 <= file.length) {
        const g = [...file.subarray(e, e + 8)];
        const key = g.every((x, j) => x === BAT_GUID[j]) ? 'bat' : g.every((x, j) => x === META_GUID[j]) ? 'meta' : undefined;
        if (key) regions[key] = { offset: u64(file, e + 16), length: u32(file, e + 24) };
      }
    }
  }
  const meta = regions.meta;
  /** What the metadata says, where the mutator needs it: the File Parameters item, geometry, the locator. */
  const items = {};
  if (meta && meta.offset < file.length) {
    add(meta.offset + 10, 2, 'metadata entry_count');
    const count = Math.min(u32(file, meta.offset + 8) >>> 16, 16);
    for (let i = 0; i < count; i++) {
      const e = meta.offset + 32 + i * 32;
      add(e, 16, `metadata entry ${i} item_id`);
      add(e + 16, 4, `metadata entry ${i} offset`);
      add(e + 20, 4, `metadata entry ${i} length`);
      add(e + 24, 4, `metadata entry ${i} flags`);
      const off = u32(file, e + 16);
      const len = Math.min(u32(file, e + 20), 64);
      for (let w = 0; w + 4 <= len; w += 4) add(meta.offset + off + w, 4, `metadata item ${i} +${w}`);
      const at = meta.offset + off;
      if (e + 16 > file.length || at + 8 > file.length) continue;
      if (isGuid(file, e, FILE_PARAMETERS_GUID))
        items.fileParameters = { at, blockSize: u32(file, at), hasParent: (u32(file, at + 4) & 2) !== 0 };
      if (isGuid(file, e, LOGICAL_SECTOR_GUID)) items.sectorSize = u32(file, at);
      if (isGuid(file, e, PARENT_LOCATOR_GUID)) items.locator = { at, length: u32(file, e + 20) };
    }
  }
  const locator = items.locator;
  if (locator && locator.at + 20 <= file.length) {
    add(locator.at + 18, 2, 'parent locator key_value_count');
    const count = Math.min(new DataView(file.buffer, file.byteOffset).getUint16(locator.at + 18, true), 8);
    for (let i = 0; i < count; i++) {
      const e = locator.at + 20 + i * 12;
      add(e, 4, `parent locator entry ${i} key_offset`);
      add(e + 4, 4, `parent locator entry ${i} value_offset`);
      add(e + 8, 2, `parent locator entry ${i} key_length`);
      add(e + 10, 2, `parent locator entry ${i} value_length`);
    }
    // the strings themselves, a few UTF-16 units at a time
    for (let w = 20 + count * 12; w + 4 <= Math.min(locator.length, 400); w += 16) add(locator.at + w, 4, `parent locator string +${w}`);
  }
  const bat = regions.bat;
  if (bat && bat.offset < file.length) {
    for (let i = 0; i < 64; i++) add(bat.offset + i * 8, 8, `BAT entry ${i}`);
    const fp = items.fileParameters;
    const sector = items.sectorSize;
    if (fp?.hasParent && fp.blockSize >= MiB && (sector === 512 || sector === 4096)) {
      // a differencing file's sector bitmap entries, and the first bytes of each bitmap block
      const ratio = (2 ** 23 * sector) / fp.blockSize;
      for (let c = 0; c < 4; c++) {
        const at = bat.offset + (c * (ratio + 1) + ratio) * 8;
        add(at, 8, `BAT sector bitmap entry of chunk ${c}`);
        const entry = u64(file, at);
        const state = entry % 8;
        const block = Math.floor(entry / MiB) * MiB;
        if (state === 6 && block > 0) for (let w = 0; w < 64; w += 4) add(block + w, 4, `sector bitmap of chunk ${c} +${w}`);
      }
    }
  }
  const logOffset = u64(file, 64 * KiB + 72);
  const logLength = u32(file, 64 * KiB + 68);
  if (logOffset > 0 && logLength > 0 && logOffset < file.length) {
    for (let o = 0; o < Math.min(logLength, 64 * 4 * KiB); o += 4 * KiB) {
      const e = logOffset + o;
      if (!sig(file, e, 'loge')) continue;
      /** @type {[number, number, string][]} */
      const fields = [
        [8, 4, 'entry_length'],
        [12, 4, 'tail'],
        [16, 8, 'sequence_number'],
        [24, 4, 'descriptor_count'],
        [48, 8, 'flushed_file_offset'],
        [56, 8, 'last_file_offset'],
      ];
      for (const [rel, width, name] of fields) {
        add(e + rel, width, `log entry @${o} ${name}`);
      }
      const count = Math.min(u32(file, e + 24), 16);
      for (let d = 0; d < count; d++) {
        add(e + 64 + d * 32, 4, `log entry @${o} descriptor ${d} signature`);
        add(e + 64 + d * 32 + 8, 8, `log entry @${o} descriptor ${d} length/leading`);
        add(e + 64 + d * 32 + 16, 8, `log entry @${o} descriptor ${d} file_offset`);
        add(e + 64 + d * 32 + 24, 8, `log entry @${o} descriptor ${d} sequence_number`);
      }
      add(e + 4096, 4, `log entry @${o} data sector signature`);
      add(e + 4096 + 4, 4, `log entry @${o} data sector sequence_high`);
    }
  }
  return { fields: f, regions, items, log: { offset: logOffset, length: logLength } };
}

/** Structure boundaries: where truncation is most interesting. */
export function boundaries(file, layout) {
  const b = [0, 8, 64 * KiB, 64 * KiB + 4 * KiB, 128 * KiB, 192 * KiB, 256 * KiB, 320 * KiB, MiB];
  for (const r of Object.values(layout.regions)) b.push(r.offset, r.offset + 64 * KiB, r.offset + r.length);
  if (layout.log.offset) b.push(layout.log.offset, layout.log.offset + 4 * KiB, layout.log.offset + layout.log.length);
  b.push(file.length - 1, file.length);
  return b.filter((x) => x >= 0 && x <= file.length);
}

const BOUNDARY_VALUES = [
  0,
  1,
  2,
  3,
  7,
  8,
  511,
  512,
  513,
  4095,
  4096,
  4097,
  65535,
  65536,
  MiB - 1,
  MiB,
  MiB + 1,
  2047,
  2048,
  0x7fffffff,
  0x80000000,
  0xffffffff,
];

function setField(file, field, next) {
  const dv = new DataView(file.buffer, file.byteOffset);
  const r = next();
  if (r < 0.3) {
    const bit = Math.floor(next() * field.width * 8);
    file[field.at + (bit >> 3)] ^= 1 << (bit & 7);
    return `flip bit ${bit} of ${field.name}`;
  }
  let v = BOUNDARY_VALUES[Math.floor(next() * BOUNDARY_VALUES.length)];
  if (next() < 0.3) v = 2 ** Math.floor(next() * 32);
  if (field.width === 2) dv.setUint16(field.at, v & 0xffff, true);
  else if (field.width === 4) dv.setUint32(field.at, v >>> 0, true);
  else if (field.width === 8) {
    const hi = next() < 0.2 ? [0, 1, 0x3fff, 0xffffffff][Math.floor(next() * 4)] : 0;
    dv.setUint32(field.at, v >>> 0, true);
    dv.setUint32(field.at + 4, hi >>> 0, true);
  } else {
    for (let i = 0; i < field.width; i++) file[field.at + i] = next() < 0.5 ? 0 : Math.floor(next() * 256);
  }
  return `set ${field.name} to ${v}`;
}

/** Recomputes every checksum the mutation may have broken. */
export function fixChecksums(file, crc32c) {
  const store = (at, len) => {
    if (at + len > file.length) return;
    const view = file.subarray(at, at + len);
    const saved = view.slice(4, 8);
    view.fill(0, 4, 8);
    const c = crc32c(view);
    new DataView(file.buffer, file.byteOffset + at + 4, 4).setUint32(0, c, true);
    void saved;
  };
  store(64 * KiB, 4 * KiB);
  store(128 * KiB, 4 * KiB);
  store(192 * KiB, 64 * KiB);
  store(256 * KiB, 64 * KiB);
  const logOffset = u64(file, 64 * KiB + 72);
  const logLength = u32(file, 64 * KiB + 68);
  if (logOffset > 0 && logLength > 0 && logOffset + logLength <= file.length && logLength <= 64 * MiB) {
    for (let o = 0; o < logLength; o += 4 * KiB) {
      const e = logOffset + o;
      if (!sig(file, e, 'loge')) continue;
      const len = u32(file, e + 8);
      if (len > 0 && len % 4096 === 0 && o + len <= logLength) store(e, len);
    }
  }
}

/**
 * One mutated case from `seed`: returns the bytes and a description. About
 * one case in five also truncates or extends the file at a boundary.
 */
export function mutate(original, seed, crc32c) {
  const next = rng(seed);
  let file = original.slice();
  const layout = structureFields(file);
  const steps = [];
  const edits = 1 + Math.floor(next() * 3);
  for (let i = 0; i < edits && layout.fields.length; i++) {
    const field = layout.fields[Math.floor(next() * layout.fields.length)];
    steps.push(setField(file, field, next));
  }
  const fp = layout.items.fileParameters;
  if (fp && !layout.items.locator && fp.at + 8 <= file.length && next() < 0.1) {
    // a differencing file with nothing to find its parent by
    file[fp.at + 4] |= 2;
    steps.push('set HasParent on a file with no parent locator');
  }
  if (next() < 0.85) fixChecksums(file, crc32c);
  else steps.push('checksums left stale');
  const r = next();
  if (r < 0.15) {
    const bs = boundaries(file, layout);
    const at = Math.max(0, Math.min(file.length, bs[Math.floor(next() * bs.length)] + Math.floor(next() * 9) - 4));
    file = file.subarray(0, at);
    steps.push(`truncate at ${at}`);
  } else if (r < 0.2) {
    const grown = new Uint8Array(file.length + Math.floor(next() * 3 * MiB));
    grown.set(file);
    for (let i = file.length; i < grown.length; i += 4096) grown[i] = Math.floor(next() * 256);
    file = grown;
    steps.push(`extend to ${grown.length}`);
  }
  return { file, description: steps.join('; ') };
}
