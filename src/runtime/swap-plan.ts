/**
 * What a generation build wants changed on live objects, made at the swap (copy-on-swap, issue 15):
 * a build reads the objects the generation in service uses (target states, balancer stacks, guards,
 * affinity tables, plugin state) and creates new ones, but every change to a kept object, and every
 * new object's entry in the runtime's maps, is queued here instead. `Runtime.install` applies the
 * queue in one synchronous step together with the swap of the generation reference, so requests see
 * either the old configuration whole or the new one whole; `Runtime.abandon` simply drops it.
 */
export class SwapPlan {
  private steps: (() => void)[] = [];

  /** Queue a change for the swap; steps run in the order they were queued. */
  later(step: () => void): void {
    this.steps.push(step);
  }

  /** Changes queued and not yet made. */
  get size(): number {
    return this.steps.length;
  }

  /** Make every queued change, in order, once (a second call finds nothing left). */
  apply(): void {
    const steps = this.steps;
    this.steps = [];
    for (const step of steps) step();
  }
}
