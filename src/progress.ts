// Progress lines for long jobs (training, evaluation): items/s and ETA on stderr, at most one
// line per `intervalMs`; rewritten in place on a terminal, appended otherwise (logs, CI).

export interface ProgressOptions {
  /** What is counted, e.g. 'img'. */
  unit: string;
  total?: number;
  intervalMs?: number;
  write?: (text: string) => void;
  isTTY?: boolean;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m${String(sec).padStart(2, '0')}s` : `${sec}s`;
}

export class Progress {
  private readonly started = performance.now();
  private last = 0;
  private done = 0;
  private readonly write: (text: string) => void;
  private readonly tty: boolean;

  constructor(private readonly opts: ProgressOptions) {
    this.write = opts.write ?? ((t) => process.stderr.write(t));
    this.tty = opts.isTTY ?? Boolean(process.stderr.isTTY);
  }

  get count(): number {
    return this.done;
  }

  /** Items per second since the start. */
  rate(): number {
    const seconds = (performance.now() - this.started) / 1000;
    return seconds > 0 ? this.done / seconds : 0;
  }

  /** Seconds left at the current rate, when the total is known. */
  eta(): number {
    const rate = this.rate();
    return this.opts.total !== undefined && rate > 0 ? (this.opts.total - this.done) / rate : NaN;
  }

  /** Counts `n` more items; prints when the interval has passed (or `force`). */
  tick(n: number, detail = '', force = false): void {
    this.done += n;
    const now = performance.now();
    if (!force && now - this.last < (this.opts.intervalMs ?? 1000)) return;
    this.last = now;
    const total = this.opts.total !== undefined ? `/${this.opts.total}` : '';
    const line = `${detail}${detail ? ' ' : ''}${this.done}${total} ${this.opts.unit} ${this.rate().toFixed(1)} ${this.opts.unit}/s ETA ${formatDuration(this.eta())}`;
    this.write(this.tty ? `\r${line}\x1b[K` : `${line}\n`);
  }

  /** Ends an in-place line. */
  finish(): void {
    if (this.tty) this.write('\n');
  }
}
