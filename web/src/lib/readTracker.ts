/**
 * Turns "message N has been visible" reports into POST /read calls.
 *
 * Invariants:
 * - never sends an id at or below one already sent or confirmed (the read position only
 *   moves forward; the server would ignore a lower one, but the request is wasted);
 * - at most one request in flight; reports arriving meanwhile are coalesced into the next;
 * - a report waits `delayMs` for more (scrolling reports many messages in a row), but no
 *   longer than `maxWaitMs` after the first unsent report, so continuous scrolling still
 *   saves progress;
 * - a failed send is retried with back-off, unless a higher id has been confirmed since.
 */
export interface ReadTrackerOptions {
  /** The read position the server already has. */
  initial: number
  send: (messageId: number) => Promise<void>
  /** Called after the server accepted a new position. */
  onConfirmed?: (messageId: number) => void
  delayMs?: number
  maxWaitMs?: number
  retryMs?: number
  maxRetryMs?: number
}

export class ReadTracker {
  private confirmed: number
  private pending: number | null = null
  private inflight: number | null = null
  private timer: ReturnType<typeof setTimeout> | null = null
  private firstPendingAt: number | null = null
  private failures = 0
  private disposed = false
  private readonly opts: Required<Omit<ReadTrackerOptions, 'onConfirmed'>> &
    Pick<ReadTrackerOptions, 'onConfirmed'>

  constructor(opts: ReadTrackerOptions) {
    this.opts = { delayMs: 400, maxWaitMs: 1500, retryMs: 1000, maxRetryMs: 30_000, ...opts }
    this.confirmed = opts.initial
  }

  /** The highest position known to the server. */
  get position(): number {
    return this.confirmed
  }

  /** The highest position reported so far (sent or not). */
  get highest(): number {
    return Math.max(this.confirmed, this.inflight ?? 0, this.pending ?? 0)
  }

  /** Report that a message has been visible. */
  seen(messageId: number): void {
    if (this.disposed || messageId <= this.highest) return
    this.pending = messageId
    if (this.firstPendingAt === null) this.firstPendingAt = Date.now()
    if (this.failures === 0) this.schedule(this.opts.delayMs)
  }

  /** The position moved elsewhere (another device, or a send, which moves it too). */
  advance(messageId: number): void {
    if (messageId <= this.confirmed) return
    this.confirmed = messageId
    if (this.pending !== null && this.pending <= this.confirmed) {
      this.pending = null
      this.firstPendingAt = null
      this.clearTimer()
    }
  }

  /** Send what is pending now, without waiting for the debounce. */
  flush(): void {
    this.clearTimer()
    if (this.pending === null || this.inflight !== null) return
    const id = this.pending
    this.pending = null
    this.firstPendingAt = null
    if (id <= this.confirmed) return
    this.inflight = id
    this.opts.send(id).then(
      () => {
        this.inflight = null
        this.failures = 0
        if (id > this.confirmed) {
          this.confirmed = id
          this.opts.onConfirmed?.(id)
        }
        if (this.pending !== null && !this.disposed) this.schedule(this.opts.delayMs)
      },
      () => {
        this.inflight = null
        if (id <= this.confirmed) return
        if (this.pending === null || this.pending < id) this.pending = id
        this.failures++
        if (!this.disposed) {
          this.schedule(Math.min(this.opts.maxRetryMs, this.opts.retryMs * 2 ** (this.failures - 1)), true)
        }
      },
    )
  }

  /** Stops timers; with flush, sends what is pending first (leaving a chat must not lose progress). */
  dispose(flush = true): void {
    if (flush && this.failures === 0) this.flush()
    this.disposed = true
    this.clearTimer()
  }

  private schedule(delay: number, force = false): void {
    if (this.inflight !== null && !force) return // the in-flight answer schedules the next
    let wait = delay
    if (!force && this.firstPendingAt !== null) {
      wait = Math.min(delay, Math.max(0, this.firstPendingAt + this.opts.maxWaitMs - Date.now()))
    }
    this.clearTimer()
    this.timer = setTimeout(() => {
      this.timer = null
      this.flush()
    }, wait)
  }

  private clearTimer(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer)
      this.timer = null
    }
  }
}
