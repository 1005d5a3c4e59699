/**
 * What went wrong, as a stable string a caller can switch on. Each
 * {@link VhdxErrorReason} belongs to exactly one code.
 *
 * - `NOT_VHDX`: the input does not start with a VHDX file identifier.
 * - `BAD_CHECKSUM`: a structure's CRC-32C does not match.
 * - `CORRUPT`: a field holds a value the format does not allow.
 * - `UNSUPPORTED`: valid VHDX (or a valid request) that this library cannot handle (yet).
 * - `TRUNCATED`: the input ended before a structure or block it needs.
 * - `LIMIT_EXCEEDED`: the input would need more memory than the options allow.
 * - `INVALID_ARGUMENT`: a caller-supplied option or argument is wrong.
 * - `IO`: reading the source or writing the target failed.
 */
export type VhdxErrorCode =
  | 'NOT_VHDX'
  | 'BAD_CHECKSUM'
  | 'CORRUPT'
  | 'UNSUPPORTED'
  | 'TRUNCATED'
  | 'LIMIT_EXCEEDED'
  | 'INVALID_ARGUMENT'
  | 'IO';

/**
 * Every reason the library gives, with the code it belongs to. The keys are
 * the closed set of {@link VhdxErrorReason} values; tests switch on them,
 * never on message text.
 */
export const REASON_CODES = {
  // the file identifier
  'not-vhdx': 'NOT_VHDX',
  // headers
  'header-checksum': 'BAD_CHECKSUM',
  'header-signature': 'CORRUPT',
  'header-log-length': 'CORRUPT',
  'header-log-offset': 'CORRUPT',
  'header-version': 'UNSUPPORTED',
  'header-log-version': 'UNSUPPORTED',
  'headers-invalid': 'CORRUPT',
  // region tables
  'region-table-checksum': 'BAD_CHECKSUM',
  'region-table-signature': 'CORRUPT',
  'region-table-entry-count': 'CORRUPT',
  'region-offset': 'CORRUPT',
  'region-length': 'CORRUPT',
  'region-duplicate': 'CORRUPT',
  'region-tables-invalid': 'CORRUPT',
  'region-tables-differ': 'CORRUPT',
  'region-missing': 'CORRUPT',
  'region-overlap': 'CORRUPT',
  'region-unknown-required': 'UNSUPPORTED',
  'region-past-eof': 'TRUNCATED',
  // metadata
  'metadata-signature': 'CORRUPT',
  'metadata-entry-count': 'CORRUPT',
  'metadata-item-length': 'CORRUPT',
  'metadata-item-offset': 'CORRUPT',
  'metadata-item-duplicate': 'CORRUPT',
  'metadata-item-missing': 'CORRUPT',
  'metadata-item-size': 'CORRUPT',
  'metadata-unknown-required': 'UNSUPPORTED',
  'block-size-invalid': 'CORRUPT',
  'virtual-size-invalid': 'CORRUPT',
  'virtual-size-unaligned': 'CORRUPT',
  'sector-size-invalid': 'CORRUPT',
  'locator-malformed': 'CORRUPT',
  // BAT and payload placement
  'bat-region-too-small': 'CORRUPT',
  'bat-entry-state': 'CORRUPT',
  'bat-entry-overlap': 'CORRUPT',
  'bat-entry-in-region': 'CORRUPT',
  'bat-entry-past-eof': 'TRUNCATED',
  // differencing files and their chains
  'differencing-unsupported': 'UNSUPPORTED',
  'bitmap-missing': 'CORRUPT',
  'parent-missing': 'IO',
  'parent-linkage-mismatch': 'CORRUPT',
  'parent-sector-size-mismatch': 'CORRUPT',
  'parent-size-mismatch': 'CORRUPT',
  'chain-loop': 'CORRUPT',
  'chain-too-deep': 'LIMIT_EXCEEDED',
  // the log
  'log-entry-signature': 'CORRUPT',
  'log-entry-skipped': 'CORRUPT',
  'log-no-sequence': 'CORRUPT',
  'log-active-empty': 'CORRUPT',
  'log-flushed-past-eof': 'CORRUPT',
  'log-descriptor-invalid': 'CORRUPT',
  'log-descriptor-target': 'CORRUPT',
  'log-data-overflow': 'CORRUPT',
  'log-not-replayable': 'CORRUPT',
  // anything else met while loading a file's structures (a bug, not a known defect)
  'structure-unreadable': 'CORRUPT',
  // reading past the end
  'structure-truncated': 'TRUNCATED',
  'header-section-truncated': 'TRUNCATED',
  'payload-truncated': 'TRUNCATED',
  'input-truncated': 'TRUNCATED',
  'source-truncated': 'TRUNCATED',
  // memory limits
  'bat-over-limit': 'LIMIT_EXCEEDED',
  'metadata-over-limit': 'LIMIT_EXCEEDED',
  'log-over-limit': 'LIMIT_EXCEEDED',
  'bitmap-over-limit': 'LIMIT_EXCEEDED',
  'reorder-buffer-full': 'LIMIT_EXCEEDED',
  'wasm-memory': 'LIMIT_EXCEEDED',
  // the caller's arguments
  'invalid-option': 'INVALID_ARGUMENT',
  'input-too-long': 'INVALID_ARGUMENT',
  'input-empty': 'INVALID_ARGUMENT',
  'input-over-64-tib': 'INVALID_ARGUMENT',
  'map-mismatch': 'INVALID_ARGUMENT',
  'map-contradicts-input': 'INVALID_ARGUMENT',
  'range-outside-disk': 'INVALID_ARGUMENT',
  'unsupported-source': 'INVALID_ARGUMENT',
  'unsupported-target': 'INVALID_ARGUMENT',
  'source-not-writable': 'INVALID_ARGUMENT',
  'image-not-writable': 'INVALID_ARGUMENT',
  'operation-not-supported': 'INVALID_ARGUMENT',
  'shrink-not-requested': 'INVALID_ARGUMENT',
  'shrink-holds-data': 'INVALID_ARGUMENT',
  'parent-has-other-children': 'INVALID_ARGUMENT',
  'base-not-in-chain': 'INVALID_ARGUMENT',
  'parent-is-self': 'INVALID_ARGUMENT',
  'unsupported-chunk': 'INVALID_ARGUMENT',
  'not-bytes': 'INVALID_ARGUMENT',
  'output-is-input': 'INVALID_ARGUMENT',
  'output-exists': 'INVALID_ARGUMENT',
  'output-has-children': 'INVALID_ARGUMENT',
  'value-unencodable': 'INVALID_ARGUMENT',
  // the runtime
  'wasm-unavailable': 'UNSUPPORTED',
  'range-not-supported': 'UNSUPPORTED',
  // an object store that refuses the CRC-32C checksum headers of a multipart upload
  'checksum-refused': 'UNSUPPORTED',
  // I/O
  'open-failed': 'IO',
  'create-failed': 'IO',
  'read-failed': 'IO',
  'write-failed': 'IO',
  'request-failed': 'IO',
  'http-status': 'IO',
  'http-no-size': 'IO',
  'http-short-body': 'IO',
  // a check of a stream stopped by a memory bound: nothing was found wrong, and not everything was checked
  'check-incomplete': 'IO',
  cancelled: 'IO',
} as const satisfies Record<string, VhdxErrorCode>;

/** Why an operation failed: a closed set, each belonging to one {@link VhdxErrorCode}. */
export type VhdxErrorReason = keyof typeof REASON_CODES;

/** The structures a {@link VhdxError} or a problem report can name. */
export type VhdxStructure =
  | 'file identifier'
  | 'header section'
  | 'headers'
  | 'header 1'
  | 'header 2'
  | 'region tables'
  | 'region table 1'
  | 'region table 2'
  | 'metadata table'
  | 'metadata item'
  | 'metadata region'
  | 'parent locator'
  | 'bat'
  | 'sector bitmap'
  | 'log'
  | 'log entry'
  | 'payload'
  | 'options'
  | 'input'
  | 'source'
  | 'target';

/**
 * The file an error is about and what it is to the operation: `input` (the file read), `output` (the file
 * written), `parent` (a parent in a differencing chain, `level` 1 the input's parent, 2 its parent, …).
 */
export interface VhdxErrorFile {
  role: 'input' | 'output' | 'parent';
  /** The level in a differencing chain: 0 the file opened, 1 its parent, … (absent when not in a chain). */
  level?: number;
  /** Its path or URL, when it was opened from one. */
  path?: string;
}

/** What is known when a parent's DataWriteGuid is not one its child's locator names (`parent-linkage-mismatch`). */
export interface LinkageMismatch {
  /** The DataWriteGuids the child's locator names (parent_linkage, then parent_linkage2): lowercase, no braces. */
  expected: string[];
  /** The DataWriteGuid of the file offered as the parent. */
  actual: string;
  /** The child's path or URL, when known. */
  child?: string;
  /** The offered file's path or URL, when known. */
  parent?: string;
  /**
   * When the child's own parent was found through its locator and the offered file lies further down that
   * chain: the paths from the child's parent down to the level whose parent is the offered file.
   */
  ancestorVia?: string[];
}

/** Where in the file a problem sits, for messages and reports. */
export interface VhdxErrorLocation {
  /** The structure concerned. */
  structure?: VhdxStructure | undefined;
  /** The field within the structure, e.g. `log_offset`. */
  field?: string | undefined;
  /** Absolute byte offset in the input file (or virtual disk, where stated). */
  offset?: number | undefined;
  /** The file concerned, when the error is about one of several (see {@link VhdxErrorFile}). */
  file?: VhdxErrorFile | undefined;
  /** For `parent-linkage-mismatch`: both GUIDs and the files. */
  linkage?: LinkageMismatch | undefined;
  /** The underlying error, if any. */
  cause?: unknown;
}

/** The one error class the library throws or errors streams with. */
export class VhdxError extends Error {
  /** Machine-readable category. */
  readonly code: VhdxErrorCode;
  /** The precise reason, from a closed set; `code` follows from it. */
  readonly reason: VhdxErrorReason;
  /** Absolute byte offset of the offending structure or field, when known. */
  readonly offset: number | undefined;
  /** Structure name, when known. */
  readonly structure: VhdxStructure | undefined;
  /** Field name, when known. */
  readonly field: string | undefined;
  /** The file it is about and its role, when known (set once, by {@link withFile}, where the file is known). */
  readonly file: VhdxErrorFile | undefined;
  /** For `parent-linkage-mismatch`: what is known about both files. */
  readonly linkage: LinkageMismatch | undefined;
  /** The message with its location but without the file it is about. */
  readonly located: string;

  /**
   * @param reason why it failed; the code is the reason's (see {@link REASON_CODES})
   * @param message what a person reads; never parsed by code
   */
  constructor(reason: VhdxErrorReason, message: string, where: VhdxErrorLocation = {}) {
    const located = formatMessage(message, where);
    super(withFilePrefix(located, where.file), where.cause === undefined ? undefined : { cause: where.cause });
    this.name = 'VhdxError';
    this.reason = reason;
    this.code = REASON_CODES[reason];
    this.offset = where.offset;
    this.structure = where.structure;
    this.field = where.field;
    this.file = where.file;
    this.linkage = where.linkage;
    this.located = located;
  }
}

function formatMessage(message: string, where: VhdxErrorLocation): string {
  const parts: string[] = [];
  if (where.structure) parts.push(where.field ? `${where.structure} ${where.field}` : where.structure);
  if (where.offset !== undefined) parts.push(`at offset ${where.offset} (0x${where.offset.toString(16)})`);
  return parts.length ? `${parts.join(' ')}: ${message}` : message;
}

/**
 * The one error for input past a limit: `what` (the input, with its length when known) is longer than
 * `limit` (what sets it: `virtualSize`, the parent's disk), `size` bytes; the limit is the error's offset.
 * `where` names the structure (default `input`) and the option (`field`) when an option sets the limit.
 */
export function inputTooLong(
  what: string,
  limit: string,
  size: number,
  where: Pick<VhdxErrorLocation, 'structure' | 'field' | 'file'> = { structure: 'input' },
): VhdxError {
  return new VhdxError('input-too-long', `${what} is longer than ${limit} (${size} bytes)`, { ...where, offset: size });
}

/** A file and its role as messages name it: `input disk.vhdx`, `parent base.vhdx (chain level 2)`, `output out.vhdx`. */
export function describeFile(file: VhdxErrorFile): string {
  const level = file.role === 'parent' && file.level !== undefined && file.level > 1 ? ` (chain level ${file.level})` : '';
  return `${file.role}${file.path === undefined ? '' : ` ${file.path}`}${level}`;
}

function withFilePrefix(located: string, file: VhdxErrorFile | undefined): string {
  // a file without a path (bytes, a Blob) is the only one there is: the role alone says nothing
  return file && (file.path !== undefined || file.role === 'parent') ? `${describeFile(file)}: ${located}` : located;
}

/**
 * Says which file `err` is about, unless it already says (the innermost code that knew wins); its
 * message then starts with the file. Returns the error (a VhdxError made from `err` when it was not one).
 */
export function withFile(err: unknown, file: VhdxErrorFile, reason: VhdxErrorReason = 'read-failed'): VhdxError {
  const e = asVhdxError(err, reason, 'I/O failed');
  if (e.file === undefined) {
    (e as { file: VhdxErrorFile }).file = file;
    e.message = withFilePrefix(e.located, file);
  }
  return e;
}

/** Wraps anything thrown by I/O into a VhdxError with `reason`, leaving VhdxErrors as they are. */
export function asVhdxError(err: unknown, reason: VhdxErrorReason = 'read-failed', context = 'I/O failed'): VhdxError {
  if (err instanceof VhdxError) return err;
  const text = err instanceof Error ? err.message : String(err);
  return new VhdxError(reason, `${context}: ${text}`, { cause: err });
}
