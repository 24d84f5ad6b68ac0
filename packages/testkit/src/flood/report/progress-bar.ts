/** How often a live bar is redrawn. */
export const BAR_REDRAW_MS = 250;
const BAR_CELLS = 24;
/** Below this share done an ETA is a guess from too little: none is shown. */
const ETA_FROM = 0.01;
const CLEAR_LINE = '\r\x1b[2K';
const DEFAULT_COLUMNS = 80;

function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m${String(sec).padStart(2, '0')}s` : `${sec}s`;
}

/** `[#####-----]  42 % ETA 1m05s  detail`, cut to `columns`. */
export function renderBar(fraction: number, elapsedMs: number, detail: string, columns: number): string {
  const f = Math.min(1, Math.max(0, Number.isFinite(fraction) ? fraction : 0));
  const filled = Math.round(f * BAR_CELLS);
  const eta = f >= 1 ? 'done' : f >= ETA_FROM ? `ETA ${duration((elapsedMs * (1 - f)) / f)}` : 'ETA ?';
  const line = `[${'#'.repeat(filled)}${'-'.repeat(BAR_CELLS - filled)}] ${String(Math.floor(f * 100)).padStart(3)} % ${eta}  ${detail}`;
  return line.length > columns ? `${line.slice(0, Math.max(0, columns - 1))}…` : line;
}

interface Out {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/**
 * A status line redrawn in place at the bottom of a terminal: bar, percentage, ETA and a detail;
 * lines logged meanwhile are printed above it. Where the output is not a terminal (CI, a pipe, a
 * file) nothing is drawn and lines are written as they come, so logs stay plain text.
 */
export class ProgressBar {
  private readonly started = Date.now();
  private shown: string | undefined;

  constructor(private readonly out: Out) {}

  /** True when the bar is drawn (the output is a terminal). */
  get live(): boolean {
    return this.out.isTTY === true;
  }

  update(fraction: number, detail: string): void {
    if (!this.live) return;
    // A pseudo-terminal may report 0 columns: take the usual 80 then.
    this.shown = renderBar(fraction, Date.now() - this.started, detail, this.out.columns || DEFAULT_COLUMNS);
    this.out.write(CLEAR_LINE + this.shown);
  }

  /** A log line, above the bar. */
  line(text: string): void {
    if (this.shown === undefined) {
      this.out.write(`${text}\n`);
      return;
    }
    this.out.write(`${CLEAR_LINE}${text}\n${this.shown}`);
  }

  /** Removes the bar; later lines are plain. */
  stop(): void {
    if (this.shown !== undefined) this.out.write(CLEAR_LINE);
    this.shown = undefined;
  }
}
