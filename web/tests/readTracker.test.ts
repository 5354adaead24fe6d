import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { ReadTracker } from '../src/lib/readTracker'

/** A send that records calls and lets the test decide when and how each one ends. */
function fakeSend() {
  const calls: { id: number; resolve: () => void; reject: (e: Error) => void }[] = []
  const send = (id: number) =>
    new Promise<void>((resolve, reject) => calls.push({ id, resolve, reject }))
  return { send, calls, ids: () => calls.map((c) => c.id) }
}

describe('ReadTracker', () => {
  beforeEach(() => vi.useFakeTimers())
  afterEach(() => vi.useRealTimers())

  it('debounces a burst of reports into one request for the highest id', async () => {
    const f = fakeSend()
    const t = new ReadTracker({ initial: 0, send: f.send, delayMs: 400, maxWaitMs: 2000 })
    t.seen(1)
    t.seen(3)
    t.seen(2)
    await vi.advanceTimersByTimeAsync(399)
    expect(f.ids()).toEqual([])
    await vi.advanceTimersByTimeAsync(1)
    expect(f.ids()).toEqual([3])
  })

  it('never sends backwards or repeats a position', async () => {
    const f = fakeSend()
    const confirmed: number[] = []
    const t = new ReadTracker({ initial: 10, send: f.send, onConfirmed: (id) => confirmed.push(id), delayMs: 100 })
    t.seen(5)
    t.seen(10)
    await vi.advanceTimersByTimeAsync(500)
    expect(f.ids()).toEqual([])
    t.seen(12)
    await vi.advanceTimersByTimeAsync(100)
    f.calls[0].resolve()
    await vi.advanceTimersByTimeAsync(0)
    expect(t.position).toBe(12)
    expect(confirmed).toEqual([12])
    t.seen(11)
    t.seen(12)
    await vi.advanceTimersByTimeAsync(500)
    expect(f.ids()).toEqual([12])
  })

  it('keeps one request in flight and coalesces reports made meanwhile', async () => {
    const f = fakeSend()
    const t = new ReadTracker({ initial: 0, send: f.send, delayMs: 100 })
    t.seen(1)
    await vi.advanceTimersByTimeAsync(100)
    t.seen(2)
    t.seen(3)
    await vi.advanceTimersByTimeAsync(1000)
    expect(f.ids()).toEqual([1])
    f.calls[0].resolve()
    await vi.advanceTimersByTimeAsync(100)
    expect(f.ids()).toEqual([1, 3])
  })

  it('saves progress during continuous scrolling (max wait)', async () => {
    const f = fakeSend()
    const t = new ReadTracker({ initial: 0, send: f.send, delayMs: 400, maxWaitMs: 1000 })
    for (let i = 1; i <= 10; i++) {
      t.seen(i)
      await vi.advanceTimersByTimeAsync(300)
    }
    // Reports every 300 ms would defer a pure debounce for ever; the max wait sends at ~1 s.
    expect(f.ids().length).toBeGreaterThanOrEqual(1)
    expect(f.ids()[0]).toBeLessThanOrEqual(4)
  })

  it('retries a failed send with back-off, with the highest id by then', async () => {
    const f = fakeSend()
    const t = new ReadTracker({ initial: 0, send: f.send, delayMs: 100, retryMs: 1000 })
    t.seen(5)
    await vi.advanceTimersByTimeAsync(100)
    f.calls[0].reject(new Error('503'))
    await vi.advanceTimersByTimeAsync(0)
    t.seen(7)
    await vi.advanceTimersByTimeAsync(500)
    expect(f.ids()).toEqual([5])
    await vi.advanceTimersByTimeAsync(500)
    expect(f.ids()).toEqual([5, 7])
    f.calls[1].resolve()
    await vi.advanceTimersByTimeAsync(0)
    expect(t.position).toBe(7)
  })

  it('drops a pending report overtaken by another device', async () => {
    const f = fakeSend()
    const t = new ReadTracker({ initial: 0, send: f.send, delayMs: 100 })
    t.seen(5)
    t.advance(8)
    await vi.advanceTimersByTimeAsync(1000)
    expect(f.ids()).toEqual([])
    expect(t.position).toBe(8)
    t.advance(3)
    expect(t.position).toBe(8)
  })

  it('sends what is pending when disposed, then nothing more', async () => {
    const f = fakeSend()
    const t = new ReadTracker({ initial: 0, send: f.send, delayMs: 10_000 })
    t.seen(4)
    t.dispose()
    expect(f.ids()).toEqual([4])
    t.seen(9)
    await vi.advanceTimersByTimeAsync(20_000)
    expect(f.ids()).toEqual([4])
  })
})
