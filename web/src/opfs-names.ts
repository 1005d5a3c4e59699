// New files in the site's private storage (OPFS). A file there is never
// replaced: a new one takes the name asked for or, when that is taken, the
// first free `name-2.ext`, `name-3.ext`... beside it.

/** `name`, or the first of `base-2.ext`, `base-3.ext`... not in `dir`. */
async function freeName(dir: FileSystemDirectoryHandle, name: string): Promise<string> {
  const dot = name.lastIndexOf('.');
  const [base, ext] = dot > 0 ? [name.slice(0, dot), name.slice(dot)] : [name, ''];
  for (let n = 1; ; n++) {
    const candidate = n === 1 ? name : `${base}-${n}${ext}`;
    try {
      await dir.getFileHandle(candidate);
    } catch (err) {
      if (err instanceof DOMException && err.name === 'NotFoundError') return candidate;
      throw err;
    }
  }
}

/**
 * A new, empty file in `dir` under `name` or a free name beside it, and the
 * name it got. (OPFS has no create-only-if-absent; the page runs one writing
 * job at a time, so nothing of its own takes the name in between.)
 */
export async function createFree(dir: FileSystemDirectoryHandle, name: string): Promise<{ name: string; entry: FileSystemFileHandle }> {
  const free = await freeName(dir, name);
  return { name: free, entry: await dir.getFileHandle(free, { create: true }) };
}
