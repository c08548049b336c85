/** Comparing what a step observed with what the scenario expects. */
import { showValues } from './context.js';
import { valueAt, type ValueSpec } from './values.js';
import { StepFailed } from './world.js';

/** `expect` of a read-like step: one value for every page, or a per-page list. */
export function checkValues(
  expect: ValueSpec | ValueSpec[],
  got: ArrayLike<number>,
  npages: number,
): void {
  if (Array.isArray(expect) && expect.length !== npages) {
    throw new StepFailed(`${expect.length} values (one per page)`, `${npages} pages read`);
  }
  for (let i = 0; i < npages; i++) {
    const spec = Array.isArray(expect) ? (expect[i] as ValueSpec) : expect;
    const want = valueAt(spec, i);
    if (got[i] !== want) {
      const wantAll = Array.from({ length: npages }, (_, j) =>
        valueAt(Array.isArray(expect) ? (expect[j] as ValueSpec) : expect, j),
      );
      throw new StepFailed(
        `page ${i} = 0x${want.toString(16)} ${showValues(wantAll)}`,
        `0x${(got[i] ?? 0).toString(16)} ${showValues(got)}`,
      );
    }
  }
}
