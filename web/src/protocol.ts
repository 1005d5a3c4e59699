// Messages between the page and its Worker: conversions, and tasks on a VHDX
// (what a compaction would reclaim, a compaction in OPFS, a copy into OPFS).
import type { CompactResult, GuestPartition, GuestRefusal, GuestVerdict, PartitionTable } from 'vhdx-stream';

/** Which way a conversion goes. */
export type Direction = 'to-vhdx' | 'to-raw';

/**
 * Where the result goes. `opfs` names the file wanted: a taken name gets a free one beside it
 * (nothing in OPFS is replaced). `picked` carries the handle from showSaveFilePicker (handles
 * cross postMessage), whose dialog asked the user before an existing file could be chosen.
 */
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
  | { type: 'cancel' }
  | { type: 'task'; id: number; task: Task };

/** Work on a VHDX beside the conversions; several may run at once (the page keeps in-place work exclusive). */
export type Task =
  /** Dry runs of a compaction, without and with fs-trim, over the file as it is (read-only). */
  | { kind: 'plan'; file: File }
  /** A compaction of an OPFS file in place, through its access handle. */
  | { kind: 'compact'; name: string; fsTrim: boolean }
  /** A copy of `file` into OPFS under `name` or, when that name is taken, a free one beside it. */
  | { kind: 'store'; file: File; name: string };

/** One region --fs-trim looked at: the library's GuestPartition, its verdict without the free ranges. */
export interface PartitionSummary extends Omit<GuestPartition, 'verdict' | 'type'> {
  verdict: GuestVerdict['kind'];
  /** The refusal's reason (refused only). */
  reason?: GuestRefusal;
  /** Why it was refused or skipped. */
  message?: string;
  /** Bytes the filesystem does not use (trimmed only; else 0). */
  freeBytes: number;
}

/** A compaction's figures: the library's CompactResult without its fs-trim report. */
export type CompactFigures = Omit<CompactResult, 'fsTrim'>;

/** What a compaction did or would do; fsTrim's report as partitions (its free ranges, up to a million, stay in the Worker). */
export interface CompactSummary extends CompactFigures {
  fsTrim?: { table: PartitionTable; partitions: PartitionSummary[] };
}

export type TaskResult =
  | { kind: 'plan'; plain: CompactSummary; fsTrim: CompactSummary }
  | { kind: 'compact'; name: string; summary: CompactSummary }
  | { kind: 'store'; name: string; size: number };

/** An error as one readable line's parts (never a stack). */
export interface ErrorReport {
  code?: string;
  reason?: string;
  message: string;
}

/** What a finished conversion produced. */
export interface DoneReport {
  kind: OutputKind;
  /** The name written: for OPFS the free name the output got, which may differ from the one asked for. */
  name: string;
  /** The name asked for, when it was taken and kept as it was (OPFS). */
  taken?: string;
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
  | { type: 'error'; error: ErrorReport }
  | { type: 'task-progress'; id: number; done: number; total: number; phase: string }
  | { type: 'task-done'; id: number; result: TaskResult }
  | { type: 'task-error'; id: number; error: ErrorReport };
