// Where Node looks for a differencing file's parent (MS-VHDX 2.6.2.6.3):
// relative_path beside the child (`\` separators, `..` allowed), then
// volume_path, then absolute_win32_path. The last two are Windows paths
// (`\\?\Volume{GUID}\…`, `\\?\C:\…`, shares): only Windows can open them, so
// elsewhere they are listed as skipped and relative_path is the one that can
// be found.
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { OpenVhdxOptions } from '../image/image.js';
import type { OpenContext } from '../image/open.js';
import type { SourceInput } from '../sources/index.js';
import { urlParentCandidates, type ParentCandidates, type ParentRequest } from '../sources/parent.js';
import { isHttpUrl } from '../sources/http.js';
import { openNodeSource, pathSource, type NodeSourceInput } from './file-source.js';

/** The path or URL an input names, absolute, when it names one. */
export function locationOf(input: NodeSourceInput): string | undefined {
  if (input instanceof URL) return input.protocol === 'file:' ? fileURLToPath(input) : input.href;
  if (typeof input !== 'string') return undefined;
  if (isHttpUrl(input)) return input;
  if (/^file:/i.test(input)) return fileURLToPath(input);
  return resolve(input);
}

/** A locator's relative_path as a path beside `child`: both separators accepted, `..` kept. */
export function relativeParentPath(child: string, relativePath: string): string {
  const parts = relativePath.split(/[\\/]+/).filter((p) => p !== '' && p !== '.');
  return join(dirname(child), ...parts);
}

/**
 * What a new child at `child` writes as its relative_path to the parent at `parent` (both paths):
 * relative to the child's folder, with `\\` separators as the format asks (MS-VHDX 2.6.2.6.3).
 */
export function childRelativePath(child: string, parent: string): string {
  return relative(dirname(resolve(child)), resolve(parent))
    .split(sep)
    .join('\\');
}

/** The places Node looks for the parent, in order. */
export function nodeParentCandidates(request: ParentRequest, options: OpenVhdxOptions, platform = process.platform): ParentCandidates {
  const child = request.child;
  if (child !== undefined && isHttpUrl(child)) return urlParentCandidates(request, options);
  const out: ParentCandidates = { candidates: [], skipped: [] };
  for (const key of ['relative_path', 'volume_path', 'absolute_win32_path'] as const) {
    const value = request.locator[key];
    if (value === undefined || value === '') continue;
    if (key === 'relative_path') {
      if (child === undefined) out.skipped.push({ label: `relative_path ${value}`, why: 'the child was not opened from a path' });
      else {
        const path = relativeParentPath(child, value);
        out.candidates.push({ label: `${path} (relative_path ${value})`, location: path, open: () => pathSource(path) });
      }
    } else if (platform !== 'win32') {
      out.skipped.push({ label: `${key} ${value}`, why: `a Windows path, not usable on ${platform}` });
    } else if (isAbsolute(value)) {
      out.candidates.push({ label: `${value} (${key})`, location: value, open: () => pathSource(value) });
    }
  }
  return out;
}

/** The context the Node entry opens files in: paths and FileHandles too, parents by path or URL. */
export function nodeOpenContext(input: NodeSourceInput | undefined, options: OpenVhdxOptions): OpenContext {
  const location = input === undefined ? undefined : locationOf(input);
  return {
    ...(location !== undefined ? { location } : {}),
    async openInput(parent: SourceInput) {
      const at = locationOf(parent as NodeSourceInput);
      return { source: await openNodeSource(parent as NodeSourceInput, options), ...(at !== undefined ? { location: at } : {}) };
    },
    findCandidates: (request) => nodeParentCandidates(request, options),
  };
}
