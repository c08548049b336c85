import { parseScenario } from '../../src/scenario/loader.js';
import { runScenario, type RunOptions, type RunResult } from '../../src/scenario/runner.js';
import './mirror-design.js';

/** Run scenario text (YAML) and return the result. */
export function run(text: string, opts: RunOptions = {}): RunResult {
  return runScenario(parseScenario(text, 'test.yaml'), opts);
}
