// Finding a differencing file's parent: what a caller's resolver is asked,
// and the places looked at by default. A URL child's parent is looked for
// relative to the child's URL; paths are the Node entry's business
// (src/node/parent-paths.ts).
import type { ReadableFile } from './types.js';
import { httpSource, isHttpUrl, type HttpSourceOptions } from './http.js';

/** What a `resolveParent` callback is asked. */
export interface ParentRequest {
  /** The child's parent locator: `parent_linkage`, `relative_path`, `volume_path`, `absolute_win32_path`, … */
  locator: Readonly<Record<string, string>>;
  /** The child's path or URL, when it was opened from one. */
  child: string | undefined;
  /** 1 for the parent of the file you opened, 2 for its grandparent, and so on. */
  depth: number;
}

/** One place a parent may be: opened only when its turn comes. */
export interface ParentCandidate {
  /** What was tried, for messages: a path or URL, with the locator key it came from. */
  label: string;
  /** The candidate's own path or URL, where its parent in turn is looked for. */
  location?: string;
  /** Opens it; rejects (any error) when it is not there. */
  open(): Promise<ReadableFile>;
}

/** A place the default lookup knows it cannot use, for messages (e.g. a Windows volume path on Linux). */
export interface SkippedCandidate {
  label: string;
  why: string;
}

/** The places to look for a parent, in order. */
export interface ParentCandidates {
  candidates: ParentCandidate[];
  skipped: SkippedCandidate[];
}

/** Finds the places to look for a child's parent. */
export type FindParentCandidates = (request: ParentRequest) => ParentCandidates;

/** The locator's relative_path as a relative URL: `\` separators become `/`. */
export function relativeUrlPath(relativePath: string): string {
  return relativePath.replace(/\\/g, '/');
}

/**
 * The default lookup: for a child opened from an http(s) URL, its
 * relative_path resolved against that URL. The Windows paths (volume_path,
 * absolute_win32_path) name nothing a URL can reach.
 */
export function urlParentCandidates(request: ParentRequest, http: HttpSourceOptions = {}): ParentCandidates {
  const out: ParentCandidates = { candidates: [], skipped: [] };
  const child = request.child;
  const isUrl = child !== undefined && isHttpUrl(child);
  for (const key of ['relative_path', 'volume_path', 'absolute_win32_path'] as const) {
    const value = request.locator[key];
    if (value === undefined || value === '') continue;
    if (!isUrl) {
      out.skipped.push({ label: `${key} ${value}`, why: 'the child was not opened from a path or URL' });
    } else if (key !== 'relative_path') {
      out.skipped.push({ label: `${key} ${value}`, why: 'a Windows path cannot be reached from a URL' });
    } else {
      let url: string;
      try {
        url = new URL(relativeUrlPath(value), child).href;
      } catch {
        out.skipped.push({ label: `${key} ${value}`, why: 'not a relative URL' });
        continue;
      }
      out.candidates.push({ label: `${url} (relative_path ${value})`, location: url, open: () => httpSource(url, http) });
    }
  }
  return out;
}
