/** Builds the converter page into `outdir`; returns the files written (relative names). */
export function buildWeb(outdir: string, options?: { minify?: boolean }): Promise<string[]>;
