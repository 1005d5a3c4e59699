import * as format from '../../src/format/index.js';

/** Parses every system item of a metadata region (for round-trip assertions). */
export function parseMetadataItems(bytes: Uint8Array) {
  const table = format.parseMetadataTable(bytes, 0, bytes.length);
  const item = (id: string) => {
    const e = table.find((x) => x.itemId === id);
    return e ? bytes.subarray(e.offset, e.offset + e.length) : undefined;
  };
  const w = { structure: 'metadata', offset: 0 };
  const locator = item(format.GUIDS.parentLocator);
  return {
    fileParameters: format.parseFileParameters(item(format.GUIDS.fileParameters)!, w),
    virtualDiskSize: format.parseVirtualDiskSize(item(format.GUIDS.virtualDiskSize)!, w),
    virtualDiskId: format.parseVirtualDiskId(item(format.GUIDS.virtualDiskId)!, w),
    logicalSectorSize: format.parseSectorSize(item(format.GUIDS.logicalSectorSize)!, w),
    physicalSectorSize: format.parseSectorSize(item(format.GUIDS.physicalSectorSize)!, w),
    ...(locator ? { parentLocator: format.parseParentLocator(locator, w) } : {}),
  };
}
