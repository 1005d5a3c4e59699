# Reads a VHDX with libvhdi (pyvhdi) and prints what it sees as JSON:
# media size, sector size, disk type and the SHA-256 of the whole disk.
# With more than one file, they form a differencing chain: each file after
# the first is the parent of the one before it (child.set_parent(parent)).
import hashlib, json, sys
import pyvhdi

files = []
for path in sys.argv[1:]:
    g = pyvhdi.file()
    g.open(path)
    files.append(g)
for child, parent in zip(files, files[1:]):
    child.set_parent(parent)
f = files[0]
size = f.get_media_size()
h = hashlib.sha256()
offset = 0
step = 4 * 1024 * 1024
while offset < size:
    data = f.read_buffer_at_offset(min(step, size - offset), offset)
    if not data:
        break
    h.update(data)
    offset += len(data)
print(json.dumps({
    "mediaSize": size,
    "bytesPerSector": f.get_bytes_per_sector(),
    "diskType": f.get_disk_type(),
    "bytesRead": offset,
    "sha256": h.hexdigest(),
}))
for g in files:
    g.close()
