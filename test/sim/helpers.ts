import { Trap, type Sim } from '../../src/sim/index.js';

/** Run `sim` and return the trap it must end with. */
export function trapOf(sim: Sim): Trap {
  try {
    sim.run();
  } catch (e) {
    if (e instanceof Trap) return e;
    throw e;
  }
  throw new Error('expected the run to trap');
}
