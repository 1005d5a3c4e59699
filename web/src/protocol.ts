// Messages between the page and its conversion Worker.

/** Which way a conversion goes. */
export type Direction = 'to-vhdx' | 'to-raw';

/** Where the result goes. `picked` carries the handle from showSaveFilePicker (handles cross postMessage). */
export type OutputRequest =
  | { kind: 'download'; name: string }
  | { kind: 'opfs'; name: string }
  | { kind: 'picked'; name: string; handle: FileSystemFileHandle };

export type OutputKind = OutputRequest['kind'];

/** Page -> Worker. */
export type ToWorker =
  | {
      type: 'start';
      file: File;
      /** Set when the file is in OPFS: the Worker then reads it through an access handle (faster than the Blob). */
      opfsInput?: string;
      direction: Direction;
      output: OutputRequest;
      blockSize?: number;
    }
  | { type: 'cancel' };

/** An error as one readable line's parts (never a stack). */
export interface ErrorReport {
  code?: string;
  reason?: string;
  message: string;
}

/** What a finished conversion produced. */
export interface DoneReport {
  kind: OutputKind;
  name: string;
  /** Size of the output. */
  size: number;
  /** Raw bytes converted (the input for raw -> VHDX, the virtual disk for VHDX -> raw). */
  rawBytes: number;
  ms: number;
  /** How the input was read: as the chosen File, or through an OPFS access handle. */
  read: 'file' | 'opfs-handle';
  /** The output itself, for downloads. */
  blob?: Blob;
}

/** Worker -> page. */
export type FromWorker =
  | { type: 'ready'; opfs: { ok: boolean; reason?: string } }
  | { type: 'progress'; done: number; total: number; phase: string }
  | { type: 'done'; report: DoneReport }
  | { type: 'cancelled'; note?: string }
  | { type: 'error'; error: ErrorReport };
