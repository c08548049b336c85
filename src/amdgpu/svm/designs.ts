/**
 * The design registry (DESIGN.md "Design variants"): every design the scenario format can
 * name with `system.design`, its XNACK default and the options it declares
 * (`system.options`). A design's driver registers itself here when its module loads, so a
 * scenario naming a design whose driver is not built says so instead of running nothing.
 */

export interface DesignOption {
  readonly description: string;
  readonly default: boolean;
}

export interface DesignInfo {
  readonly name: string;
  readonly description: string;
  /** XNACK mode when the scenario does not say (SCENARIO-FORMAT.md: off for rfc-v1, on for rfc-v2). */
  readonly defaultXnack: boolean;
  /** Boolean design options (`system.options`); an option not listed is an invalid file. */
  readonly options: Readonly<Record<string, DesignOption>>;
}

const designs = new Map<string, DesignInfo>();

export function registerDesign(info: DesignInfo): void {
  designs.set(info.name, info);
}

export function getDesign(name: string): DesignInfo | undefined {
  return designs.get(name);
}

export function designNames(): string[] {
  return [...designs.keys()].sort();
}

registerDesign({
  name: 'rfc-v1',
  description:
    "The RFC V1 cover letter's design: SET_ATTR maps eagerly; XNACK-off eviction quiesces the " +
    'KFD queues and the restore worker remaps; partial munmap removes overlapping ranges and ' +
    'the GC worker rebuilds the survivors from the attribute tree.',
  defaultXnack: false,
  options: {},
});

registerDesign({
  name: 'rfc-v2',
  description:
    "The series' second design (code posted as V3): fault-driven with XNACK on, ranges bounded " +
    'by attribute ranges, two-phase notifier, GC only, discard-and-refault on partial munmap.',
  defaultXnack: true,
  options: {},
});
