// Formats tinybench results as MB/s with the ratio to a named subject.
export function mb(bytesPerSecond) {
  return (bytesPerSecond / 1e6).toFixed(0);
}

export function report(title, bench, bytesPerOp, subject) {
  const results = bench.tasks.map((t) => {
    const r = t.result;
    const median = r.latency?.p50 ?? r.period; // ms per op
    return { name: t.name, mbps: bytesPerOp / (median / 1000) };
  });
  const base = results.find((r) => r.name === subject);
  console.log(`\n${title}`);
  for (const r of results) {
    const ratio = base && r !== base ? `  (vhdx-stream / this = ${(base.mbps / r.mbps).toFixed(2)}x)` : '';
    console.log(`  ${r.name.padEnd(38)} ${mb(r.mbps).padStart(7)} MB/s median${ratio}`);
  }
  return results.map((r) => ({ title, ...r, ratio: base ? base.mbps / r.mbps : undefined }));
}
