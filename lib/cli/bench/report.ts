// Benchmark output: an aligned table for people, one JSON line per row for scripts.
import type { BenchRow } from './index.js';

export function ratio(ours: number, baseline: number | null): number | null {
  return baseline && baseline > 0 ? ours / baseline : null;
}

export function printRows(rows: readonly BenchRow[], json: boolean): void {
  if (json) {
    for (const row of rows) console.log(JSON.stringify(row));
    return;
  }
  const fmt = (v: number | null, digits = 1) => (v === null ? '—' : v.toFixed(digits));
  const table = [
    ['name', 'ours', 'PyTorch', 'unit', 'ratio'],
    ...rows.map((r) => [r.name, fmt(r.ours), fmt(r.baseline), r.unit, r.ratio === null ? '—' : `${r.ratio.toFixed(2)}×`]),
  ];
  const widths = table[0].map((_, c) => Math.max(...table.map((row) => row[c].length)));
  for (const [i, row] of table.entries()) {
    console.log(row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  '));
    if (i === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  }
}
