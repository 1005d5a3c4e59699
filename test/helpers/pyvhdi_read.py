# Reads a VHDX with libvhdi (pyvhdi) and prints what it sees as JSON:
# media size, sector size, disk type and the SHA-256 of the whole disk.
import hashlib, json, sys
import pyvhdi

f = pyvhdi.file()
f.open(sys.argv[1])
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
f.close()
