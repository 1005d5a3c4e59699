// Collects a byte stream into one Uint8Array. Plain JS so that the fuzz
// corpus (run by node without a TS loader) and the TS tests share it.
export async function collect(stream) {
  const parts = [];
  let total = 0;
  for await (const chunk of stream) {
    parts.push(chunk);
    total += chunk.length;
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
