// Reads the captured output of `npm test` and prints one closing line with the
// tests it ran, vitest's and pytest's together: "ci: N passed, N failed".
// CI prints it last, so the run ends on the count of tests it executed rather
// than on another tool's summary (schemathesis closes on "N warnings in Ns").
import { readFileSync } from 'node:fs';

const text = readFileSync(process.argv[2], 'utf8').replace(/\x1b\[[0-9;]*m/g, '');
let passed = 0;
let failed = 0;
for (const line of text.split('\n')) {
  const vitest = /^\s*Tests\s+(.*)$/.exec(line);
  const pytest = /^python: (.*) in [\d.]+s$/.exec(line);
  const counts = vitest?.[1] ?? pytest?.[1];
  if (!counts) continue;
  passed += Number(/(\d+) passed/.exec(counts)?.[1] ?? 0);
  failed += Number(/(\d+) failed/.exec(counts)?.[1] ?? 0);
}
if (passed + failed === 0) {
  console.error('ci-tally: no test counts found in the output of npm test');
  process.exit(1);
}
console.log(`ci: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
