/**
 * A loop's idle wait that another part can cut short: new work arrived, or stop(). A wake()
 * while nobody sleeps does nothing; callers that must not miss one check their own "pending"
 * state before they sleep.
 */
export class WakeableSleep {
  private wakeUp: (() => void) | undefined;

  /** Sleeps up to `ms` (forever without it), or until wake(). */
  sleep(ms?: number): Promise<void> {
    return new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        clearTimeout(timer);
        if (this.wakeUp === done) this.wakeUp = undefined;
        resolve();
      };
      if (ms !== undefined) timer = setTimeout(done, Math.max(0, ms));
      this.wakeUp = done;
    });
  }

  wake(): void {
    this.wakeUp?.();
  }
}
