/**
 * What went wrong, as a stable string a caller can switch on.
 *
 * - `NOT_VHDX`: the input does not start with a VHDX file identifier.
 * - `BAD_CHECKSUM`: a structure's CRC-32C does not match.
 * - `CORRUPT`: a field holds a value the format does not allow.
 * - `UNSUPPORTED`: valid VHDX that this library cannot handle (yet).
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

/** Where in the file a problem sits, for messages and reports. */
export interface VhdxErrorLocation {
  /** The structure concerned, e.g. `header 1` or `BAT`. */
  structure?: string;
  /** The field within the structure, e.g. `log_offset`. */
  field?: string;
  /** Absolute byte offset in the input file (or virtual disk, where stated). */
  offset?: number;
  /** The underlying error, if any. */
  cause?: unknown;
}

/** The one error class the library throws or errors streams with. */
export class VhdxError extends Error {
  /** Machine-readable category. */
  readonly code: VhdxErrorCode;
  /** Absolute byte offset of the offending structure or field, when known. */
  readonly offset: number | undefined;
  /** Structure name, when known. */
  readonly structure: string | undefined;
  /** Field name, when known. */
  readonly field: string | undefined;

  constructor(code: VhdxErrorCode, message: string, where: VhdxErrorLocation = {}) {
    super(formatMessage(message, where), where.cause === undefined ? undefined : { cause: where.cause });
    this.name = 'VhdxError';
    this.code = code;
    this.offset = where.offset;
    this.structure = where.structure;
    this.field = where.field;
  }
}

function formatMessage(message: string, where: VhdxErrorLocation): string {
  const parts: string[] = [];
  if (where.structure) parts.push(where.field ? `${where.structure} ${where.field}` : where.structure);
  if (where.offset !== undefined) parts.push(`at offset ${where.offset} (0x${where.offset.toString(16)})`);
  return parts.length ? `${parts.join(' ')}: ${message}` : message;
}

/** Wraps anything thrown by I/O into a VhdxError, leaving VhdxErrors as they are. */
export function asVhdxError(err: unknown, code: VhdxErrorCode = 'IO', context = 'I/O failed'): VhdxError {
  if (err instanceof VhdxError) return err;
  const text = err instanceof Error ? err.message : String(err);
  return new VhdxError(code, `${context}: ${text}`, { cause: err });
}
