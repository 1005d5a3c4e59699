// The page's side of the Worker's tasks: each task gets an id, its progress
// goes to its own callback, and its answer settles its promise.
import type { ProgressFn } from './io.js';
import type { ErrorReport, FromWorker, Task, TaskResult, ToWorker } from './protocol.js';

/** A task that failed in the Worker: its error as the page shows errors. */
export class TaskError extends Error {
  constructor(readonly report: ErrorReport) {
    super(report.message);
  }
}

interface Pending {
  resolve(result: TaskResult): void;
  reject(error: TaskError): void;
  onProgress?: ProgressFn | undefined;
}

export class TaskClient {
  private next = 1;
  private readonly pending = new Map<number, Pending>();

  constructor(private readonly post: (message: ToWorker) => void) {}

  /** Runs `task` in the Worker. */
  run<K extends Task['kind']>(task: Extract<Task, { kind: K }>, onProgress?: ProgressFn): Promise<Extract<TaskResult, { kind: K }>> {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (result: TaskResult) => void, reject, onProgress });
      this.post({ type: 'task', id, task });
    });
  }

  /** Takes a task's message; false for any other. */
  handle(message: FromWorker): boolean {
    if (message.type !== 'task-progress' && message.type !== 'task-done' && message.type !== 'task-error') return false;
    const pending = this.pending.get(message.id);
    if (!pending) return true;
    if (message.type === 'task-progress') {
      pending.onProgress?.(message.done, message.total, message.phase);
      return true;
    }
    this.pending.delete(message.id);
    if (message.type === 'task-done') pending.resolve(message.result);
    else pending.reject(new TaskError(message.error));
    return true;
  }

  /** Fails every task still waiting (the Worker stopped). */
  failAll(report: ErrorReport): void {
    for (const pending of this.pending.values()) pending.reject(new TaskError(report));
    this.pending.clear();
  }
}
