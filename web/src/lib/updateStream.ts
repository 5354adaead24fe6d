import { ApiError } from '../api/client'
import type { Update, UpdatesPage } from '../api/types'
import { parseUpdate } from './publications'

/**
 * The client's place in the user's update stream (API.md "Per-user updates (1.1)"), and
 * the one rule for applying updates: strictly in cursor order, each once.
 *
 * A cursor is "<n>.<stream>": n counts the user's updates without skipping, so an update
 * whose n is not the next one after ours shows a gap (or, at or below ours, a duplicate).
 * Live publications of one user can arrive out of order (chats in different log
 * partitions), so one that jumps ahead is held back; if the gap does not fill within
 * `gapWaitMs`, the stream asks GET /updates from its cursor. An update of another stream
 * (the server's store was rebuilt) is never applied: the catch-up it triggers gets 410,
 * and on 410 the stream takes a fresh cursor and then calls `reload` — in that order, so
 * nothing that happens while the caller reloads is missed.
 */

export interface Cursor {
  n: number
  stream: string
}

/** Parses "<n>.<stream>"; null for anything else. */
export function parseCursor(s: string): Cursor | null {
  const dot = s.indexOf('.')
  if (dot <= 0 || dot === s.length - 1) return null
  const digits = s.slice(0, dot)
  if (!/^\d+$/.test(digits)) return null
  const n = Number(digits)
  if (!Number.isSafeInteger(n)) return null
  return { n, stream: s.slice(dot + 1) }
}

/** Cancels a scheduled call. */
type Cancel = () => void
export type Schedule = (fn: () => void, ms: number) => Cancel

const realSchedule: Schedule = (fn, ms) => {
  const t = setTimeout(fn, ms)
  return () => clearTimeout(t)
}

export interface UpdateStreamOptions {
  /** GET /updates: without `after` the current cursor, with it the updates after it. */
  fetch: (after?: string) => Promise<UpdatesPage>
  /** Applies one update; called in cursor order, once per n. */
  apply: (u: Update) => void
  /** After a 410 and a fresh cursor: reload the chat list and the open chat. */
  reload: () => Promise<void> | void
  /** How long an update that jumps ahead waits for the gap to fill before a catch-up. */
  gapWaitMs?: number
  /** Back-off of a catch-up that failed (network, 5xx): first delay, doubling up to max. */
  retryMs?: number
  maxRetryMs?: number
  schedule?: Schedule
  /** Something went wrong that the user may want to know (a failed catch-up). */
  onError?: (err: unknown) => void
}

export class UpdateStream {
  private cursor: Cursor | null = null
  /** Updates of our stream that jumped ahead, by n, waiting for the gap before them. */
  private held = new Map<number, Update>()
  private cancelGap: Cancel | null = null
  private cancelRetry: Cancel | null = null
  private retryDelay: number
  private running: Promise<void> | null = null
  /** Another catch-up was asked for while one ran: run once more after it. */
  private again = false
  private stopped = false
  private readonly gapWaitMs: number
  private readonly schedule: Schedule

  constructor(private readonly opts: UpdateStreamOptions) {
    this.gapWaitMs = opts.gapWaitMs ?? 500
    this.schedule = opts.schedule ?? realSchedule
    this.retryDelay = opts.retryMs ?? 1000
  }

  /** The cursor of the last update applied ("<n>.<stream>"), or null before start. */
  get position(): string | null {
    return this.cursor ? `${this.cursor.n}.${this.cursor.stream}` : null
  }

  /** How many updates are held back waiting for a gap (for tests and diagnostics). */
  get heldCount(): number {
    return this.held.size
  }

  /**
   * Takes the current cursor. Call it before loading the chat list: whatever happens
   * while the list loads is then after the cursor and comes through the stream.
   */
  async start(): Promise<void> {
    const page = await this.opts.fetch()
    this.setCursor(page.cursor)
  }

  /** A live update (personal channel publication), raw or parsed. */
  push(data: unknown): void {
    const u = parseUpdate(data)
    if (u) this.offer(u)
  }

  /**
   * Fetches everything after the cursor, page by page, and applies it. Concurrent calls
   * share one run (and a call during a run makes it go round once more), so nothing is
   * fetched or applied twice. Resolves when the stream is caught up or has given up for
   * now (a failure schedules a retry).
   */
  catchUp(): Promise<void> {
    if (this.stopped) return Promise.resolve()
    if (this.running) {
      this.again = true
      return this.running
    }
    this.cancelRetry?.()
    this.cancelRetry = null
    this.running = (async () => {
      try {
        do {
          this.again = false
          await this.runOnce()
        } while (this.again && !this.stopped)
        this.retryDelay = this.opts.retryMs ?? 1000
      } catch (err) {
        this.opts.onError?.(err)
        this.retryLater()
      } finally {
        this.running = null
      }
    })()
    return this.running
  }

  stop(): void {
    this.stopped = true
    this.cancelGap?.()
    this.cancelRetry?.()
    this.held.clear()
  }

  private async runOnce(): Promise<void> {
    if (!this.cursor) {
      // start() failed or never ran: nothing to catch up from, so start over.
      await this.reset()
      return
    }
    for (;;) {
      let page: UpdatesPage
      try {
        page = await this.opts.fetch(this.position!)
      } catch (err) {
        if (err instanceof ApiError && err.status === 410) {
          await this.reset()
          return
        }
        throw err
      }
      if (this.stopped) return
      for (const raw of page.updates) {
        const u = parseUpdate(raw)
        if (u) this.offer(u)
      }
      // The answer's cursor is the last update it holds: past anything in it that could
      // not even be read as an update, so the stream does not ask for it again.
      this.advanceTo(page.cursor)
      if (!page.has_more || page.updates.length === 0) return
    }
  }

  /** 410: a fresh cursor first, then the caller reloads what it shows. */
  private async reset(): Promise<void> {
    const page = await this.opts.fetch()
    if (this.stopped) return
    this.cursor = null
    this.setCursor(page.cursor)
    try {
      await this.opts.reload()
    } catch (err) {
      // The cursor is fresh and the stream goes on; the caller shows its own load errors.
      this.opts.onError?.(err)
    }
  }

  private setCursor(s: string): void {
    const c = parseCursor(s)
    if (!c) throw new Error(`malformed update cursor ${JSON.stringify(s)}`)
    if (!this.cursor || this.cursor.stream !== c.stream) {
      // A new stream: nothing held from the old one can be placed in it.
      for (const [n, u] of this.held) if (parseCursor(u.cursor)?.stream !== c.stream) this.held.delete(n)
      this.cursor = c
      this.drain()
    } else {
      this.advanceTo(s)
    }
  }

  /** Moves the cursor forward to s (never back), then applies what was held behind it. */
  private advanceTo(s: string): void {
    const c = parseCursor(s)
    if (!c || !this.cursor || c.stream !== this.cursor.stream || c.n <= this.cursor.n) return
    this.cursor = c
    this.drain()
  }

  private offer(u: Update): void {
    if (this.stopped) return
    const c = parseCursor(u.cursor)
    if (!c || !this.cursor) return
    if (c.stream !== this.cursor.stream) {
      // Not ours: never applied. If the server's stream changed, catching up from our
      // cursor gets 410, which starts over on the new one.
      void this.catchUp()
      return
    }
    if (c.n <= this.cursor.n) return // a duplicate (recovery, catch-up and live overlap)
    if (c.n > this.cursor.n + 1) {
      this.held.set(c.n, u)
      this.armGap()
      return
    }
    this.cursor = c
    this.deliver(u)
    this.drain()
  }

  /** The cursor has already moved past u: a failure to apply it must not stall the stream. */
  private deliver(u: Update): void {
    try {
      this.opts.apply(u)
    } catch (err) {
      this.opts.onError?.(err)
    }
  }

  /** Applies held updates that are now next in order; drops the ones at or below the cursor. */
  private drain(): void {
    const cur = this.cursor
    if (!cur) return
    for (const n of Array.from(this.held.keys())) if (n <= cur.n) this.held.delete(n)
    for (;;) {
      const next = this.held.get(this.cursor!.n + 1)
      if (!next) break
      this.held.delete(this.cursor!.n + 1)
      this.cursor = parseCursor(next.cursor)
      this.deliver(next)
    }
    // Progress restarts the wait for what is still missing; nothing held, nothing to wait for.
    this.cancelGap?.()
    this.cancelGap = null
    if (this.held.size > 0) this.armGap()
  }

  private armGap(): void {
    if (this.cancelGap) return
    this.cancelGap = this.schedule(() => {
      this.cancelGap = null
      if (this.held.size > 0) void this.catchUp()
    }, this.gapWaitMs)
  }

  private retryLater(): void {
    if (this.stopped || this.cancelRetry) return
    const delay = this.retryDelay
    this.retryDelay = Math.min(this.opts.maxRetryMs ?? 30_000, delay * 2)
    this.cancelRetry = this.schedule(() => {
      this.cancelRetry = null
      void this.catchUp()
    }, delay)
  }
}
