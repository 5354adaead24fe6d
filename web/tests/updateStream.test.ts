import { describe, expect, it, vi } from 'vitest'
import { ApiError } from '../src/api/client'
import type { Update, UpdatesPage } from '../src/api/types'
import { parseCursor, UpdateStream, type Schedule } from '../src/lib/updateStream'

/** A manual clock for the stream's timers: tests move time with advance(). */
class FakeTimers {
  now = 0
  private tasks: { at: number; fn: () => void; id: number }[] = []
  private seq = 0
  schedule: Schedule = (fn, ms) => {
    const id = ++this.seq
    this.tasks.push({ at: this.now + ms, fn, id })
    return () => {
      this.tasks = this.tasks.filter((t) => t.id !== id)
    }
  }
  get pending() {
    return this.tasks.length
  }
  async advance(ms: number) {
    const until = this.now + ms
    for (;;) {
      this.tasks.sort((a, b) => a.at - b.at)
      const t = this.tasks[0]
      if (!t || t.at > until) break
      this.tasks.shift()
      this.now = t.at
      t.fn()
      await flush()
    }
    this.now = until
    await flush()
  }
}

async function flush() {
  for (let i = 0; i < 20; i++) await Promise.resolve()
}

/** A read.updated update with cursor n on stream s (the body does not matter here). */
function up(n: number, s = 'A'): Record<string, unknown> {
  return { type: 'read.updated', cursor: `${n}.${s}`, chat_id: 1, user_id: 1, message_id: n }
}

/**
 * A fake GET /updates over a server-side log of updates: `after` missing gives the
 * newest cursor; an `after` older than `keepFrom` or of another stream gives 410.
 */
class FakeServer {
  log: Record<string, unknown>[] = []
  stream = 'A'
  keepFrom = 1
  pageSize = 100
  calls: (string | undefined)[] = []
  /** When set, every fetch waits for it (to hold requests open). */
  gate: Promise<void> | null = null
  failNext = 0

  add(count: number) {
    for (let i = 0; i < count; i++) this.log.push(up(this.log.length + 1, this.stream))
  }
  get newest() {
    return `${this.log.length}.${this.stream}`
  }
  fetch = vi.fn(async (after?: string): Promise<UpdatesPage> => {
    this.calls.push(after)
    if (this.gate) await this.gate
    if (this.failNext > 0) {
      this.failNext--
      throw new ApiError(0, 'network', 'offline')
    }
    if (after === undefined) return { updates: [], cursor: this.newest, has_more: false }
    const c = parseCursor(after)!
    if (c.stream !== this.stream || c.n + 1 < this.keepFrom) throw new ApiError(410, 'gone', 'cursor too old')
    const rest = this.log.slice(c.n, c.n + this.pageSize)
    const last = rest.length ? (rest[rest.length - 1].cursor as string) : after
    return { updates: rest, cursor: last, has_more: c.n + rest.length < this.log.length }
  })
}

function setup(server = new FakeServer()) {
  const timers = new FakeTimers()
  const applied: Update[] = []
  const reload = vi.fn(async () => {})
  const stream = new UpdateStream({
    fetch: server.fetch,
    apply: (u) => applied.push(u),
    reload,
    gapWaitMs: 500,
    schedule: timers.schedule,
  })
  const ns = () => applied.map((u) => Number(u.cursor.split('.')[0]))
  return { server, timers, applied, reload, stream, ns }
}

describe('parseCursor', () => {
  it('reads "<n>.<stream>" and nothing else', () => {
    expect(parseCursor('12.abc')).toEqual({ n: 12, stream: 'abc' })
    expect(parseCursor('0.s.with.dots')).toEqual({ n: 0, stream: 's.with.dots' })
    for (const bad of ['', '12', '12.', '.abc', 'x.abc', '-1.abc', '1e3.abc', '99999999999999999999.a']) {
      expect(parseCursor(bad)).toBeNull()
    }
  })
})

describe('UpdateStream', () => {
  it('takes the current cursor at start and applies live updates in order', async () => {
    const { server, stream, ns } = setup()
    server.add(5)
    await stream.start()
    expect(server.calls).toEqual([undefined])
    expect(stream.position).toBe('5.A')
    stream.push(up(6))
    stream.push(up(7))
    expect(ns()).toEqual([6, 7])
    expect(stream.position).toBe('7.A')
  })

  it('drops duplicates and updates of another stream', async () => {
    const { server, stream, ns, timers } = setup()
    server.add(5)
    await stream.start()
    stream.push(up(6))
    stream.push(up(6))
    stream.push(up(3))
    stream.push(up(7, 'B'))
    await timers.advance(1000)
    expect(ns()).toEqual([6])
    expect(stream.position).toBe('6.A')
  })

  it('holds back an update that jumps ahead and applies it once the gap fills', async () => {
    const { server, stream, ns, timers } = setup()
    server.add(5)
    await stream.start()
    stream.push(up(8))
    stream.push(up(7))
    expect(ns()).toEqual([])
    expect(stream.heldCount).toBe(2)
    stream.push(up(6))
    expect(ns()).toEqual([6, 7, 8])
    expect(stream.heldCount).toBe(0)
    // The gap filled in time: no catch-up was asked for.
    await timers.advance(2000)
    expect(server.calls).toEqual([undefined])
    expect(timers.pending).toBe(0)
  })

  it('asks GET /updates from its cursor when a gap does not fill within the wait', async () => {
    const { server, stream, ns, timers } = setup()
    server.add(5)
    await stream.start()
    server.add(3) // 6, 7, 8 happen; only 8 arrives live
    stream.push(up(8))
    await timers.advance(499)
    expect(server.calls).toEqual([undefined])
    await timers.advance(1)
    expect(server.calls).toEqual([undefined, '5.A'])
    expect(ns()).toEqual([6, 7, 8])
    expect(stream.position).toBe('8.A')
    expect(stream.heldCount).toBe(0)
  })

  it('pages a catch-up until has_more is false, in order', async () => {
    const { server, stream, ns } = setup()
    server.pageSize = 2
    server.add(1)
    await stream.start()
    server.add(5)
    await stream.catchUp()
    expect(server.calls).toEqual([undefined, '1.A', '3.A', '5.A'])
    expect(ns()).toEqual([2, 3, 4, 5, 6])
    expect(stream.position).toBe('6.A')
  })

  it('on 410 takes a fresh cursor first, then reloads, and goes on from the new cursor', async () => {
    const { server, stream, ns, reload } = setup()
    server.add(3)
    await stream.start()
    server.add(20)
    server.keepFrom = 10 // the server forgot 4..9
    let callsAtReload: (string | undefined)[] = []
    reload.mockImplementation(async () => {
      callsAtReload = [...server.calls]
    })
    await stream.catchUp()
    expect(callsAtReload).toEqual([undefined, '3.A', undefined])
    expect(reload).toHaveBeenCalledOnce()
    expect(ns()).toEqual([])
    expect(stream.position).toBe('23.A')
    stream.push(up(24))
    expect(ns()).toEqual([24])
  })

  it('starts over on a new stream: its updates are not applied until a catch-up gets 410', async () => {
    const { server, stream, ns, reload, timers } = setup()
    server.add(3)
    await stream.start()
    // The server's store was rebuilt: a new stream, counting from 1 again.
    server.stream = 'B'
    server.log = []
    server.add(2)
    stream.push(up(1, 'B'))
    await timers.advance(0)
    expect(reload).toHaveBeenCalledOnce()
    expect(stream.position).toBe('2.B')
    expect(ns()).toEqual([])
    stream.push(up(3, 'B'))
    expect(ns()).toEqual([3])
  })

  it('concurrent catch-ups share one run and never apply an update twice', async () => {
    const { server, stream, ns } = setup()
    server.add(2)
    await stream.start()
    server.add(4)
    let open!: () => void
    server.gate = new Promise((r) => (open = r))
    const a = stream.catchUp()
    const b = stream.catchUp()
    // Live copies of the same updates arrive while the request is open.
    stream.push(up(3))
    stream.push(up(4))
    open()
    await Promise.all([a, b])
    expect(ns()).toEqual([3, 4, 5, 6])
    // The second call made the run go round once more, from the new cursor, not a second fetch from 2.
    expect(server.calls).toEqual([undefined, '2.A', '6.A'])
  })

  it('skips an update of a type it does not know, moving its cursor past it', async () => {
    const { server, stream, applied } = setup()
    server.add(1)
    await stream.start()
    stream.push({ type: 'typing', cursor: '2.A', chat_id: 1 })
    stream.push(up(3))
    expect(applied.map((u) => u.type)).toEqual(['unknown', 'read.updated'])
    expect(stream.position).toBe('3.A')
  })

  it('retries a failed catch-up with back-off and keeps what it holds', async () => {
    const { server, stream, ns, timers } = setup()
    server.add(1)
    await stream.start()
    server.add(3)
    stream.push(up(4))
    server.failNext = 1
    await timers.advance(500)
    expect(ns()).toEqual([])
    expect(stream.heldCount).toBe(1)
    await timers.advance(1000)
    expect(ns()).toEqual([2, 3, 4])
  })

  it('without a cursor (start failed) a catch-up starts over: fresh cursor, then reload', async () => {
    const { server, stream, reload } = setup()
    server.add(4)
    server.failNext = 1
    await expect(stream.start()).rejects.toThrow('offline')
    stream.push(up(5)) // nothing to place it after
    await stream.catchUp()
    expect(server.calls).toEqual([undefined, undefined])
    expect(reload).toHaveBeenCalledOnce()
    expect(stream.position).toBe('4.A')
  })
})
