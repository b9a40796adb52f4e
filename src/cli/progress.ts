/** A one-line progress bar redrawn in place on a terminal; on anything else (a pipe, a file) it draws nothing. */

export interface ProgressStream {
  isTTY?: boolean;
  write(text: string): unknown;
}

const BAR_WIDTH = 30;
const CLEAR_LINE = '\r\x1b[K';

export class ProgressBar {
  private drawn = '';

  constructor(private readonly stream: ProgressStream = process.stderr) {}

  update(label: string, done: number, total: number): void {
    if (!this.stream.isTTY) return;
    const fraction = total > 0 ? Math.min(1, done / total) : 1;
    const filled = Math.round(fraction * BAR_WIDTH);
    const line = `${label} [${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}] ${Math.floor(fraction * 100)}%`;
    if (line === this.drawn) return; // redraw only when something visible changed
    this.stream.write(CLEAR_LINE + line);
    this.drawn = line;
  }

  /** Erases the bar, leaving the line free for what comes next. */
  clear(): void {
    if (!this.drawn) return;
    this.stream.write(CLEAR_LINE);
    this.drawn = '';
  }
}
