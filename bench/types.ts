/** One figure a benchmark module reports. */
export interface BenchResult {
  name: string;
  value: number;
  unit: string;
  /** The target the issue sets, in words ("at least 2e6"). */
  target?: string;
  note?: string;
}
