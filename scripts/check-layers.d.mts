/** The layers of src/, bottom to top. */
export const LAYERS: string[][];
/** Every layering problem in the tree under `root`, as readable lines (empty when none). */
export function checkLayers(root: string): string[];
