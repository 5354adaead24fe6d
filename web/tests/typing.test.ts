// Typing indicators (API 1.1): who is typing where, the wording, when an indicator ends,
// and how often the client tells the server.
import { effectScope } from 'vue'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { useTyping } from '../src/composables/useTyping'
import { TypingBoard, TypingThrottle, typingLabel, TYPING_SHOW_MS } from '../src/lib/typing'
import { alice, bob } from './fixtures'

const carol = { id: 3, name: 'carol' }
const dave = { id: 4, name: 'dave' }

describe('typingLabel', () => {
  it('names one or two, then counts the others', () => {
    expect(typingLabel([])).toBeNull()
    expect(typingLabel(['Alice'])).toBe('Alice is typing…')
    expect(typingLabel(['Alice', 'Bob'])).toBe('Alice and Bob are typing…')
    expect(typingLabel(['Alice', 'Bob', 'Carol'])).toBe('Alice and 2 others are typing…')
    expect(typingLabel(['Alice', 'Bob', 'Carol', 'Dave'])).toBe('Alice and 3 others are typing…')
  })
})

describe('TypingBoard', () => {
  it('keeps each person for 5 s after their last typing, per chat, in the order they started', () => {
    const b = new TypingBoard()
    expect(b.typing(42, alice, 0)).toBe(true)
    expect(b.typing(42, bob, 1000)).toBe(true)
    expect(b.typing(7, carol, 1000)).toBe(true)
    expect(b.users(42, 1000).map((u) => u.name)).toEqual(['alice', 'bob'])
    expect(b.users(7, 1000).map((u) => u.name)).toEqual(['carol'])
    // Alice types again: still first, and her time starts over.
    expect(b.typing(42, alice, 4000)).toBe(false)
    expect(b.users(42, 5500).map((u) => u.name)).toEqual(['alice', 'bob'])
    expect(b.nextExpiry()).toBe(1000 + TYPING_SHOW_MS)
    expect(b.expire(6000)).toBe(true)
    expect(b.users(42, 6000).map((u) => u.name)).toEqual(['alice'])
    expect(b.users(7, 6000)).toEqual([])
    expect(b.nextExpiry()).toBe(4000 + TYPING_SHOW_MS)
    expect(b.expire(8999)).toBe(false)
    expect(b.expire(9000)).toBe(true)
    expect(b.users(42, 9000)).toEqual([])
    expect(b.nextExpiry()).toBeNull()
  })

  it('one who is past their time is not shown even before the timer drops them', () => {
    const b = new TypingBoard()
    b.typing(42, alice, 0)
    expect(b.users(42, TYPING_SHOW_MS)).toEqual([])
  })

  it('their message ends the indicator at once; someone else’s does not', () => {
    const b = new TypingBoard()
    b.typing(42, alice, 0)
    b.typing(42, bob, 0)
    expect(b.stopped(42, carol.id)).toBe(false)
    expect(b.stopped(7, alice.id)).toBe(false)
    expect(b.stopped(42, alice.id)).toBe(true)
    expect(b.users(42, 1).map((u) => u.name)).toEqual(['bob'])
  })

  it('a new name (a rename) replaces the old one', () => {
    const b = new TypingBoard()
    b.typing(42, alice, 0)
    expect(b.typing(42, { ...alice, name: 'alicia' }, 100)).toBe(true)
    expect(b.users(42, 200)[0].name).toBe('alicia')
  })
})

describe('TypingThrottle', () => {
  it('sends the first change at once, then at most once every 3 s', () => {
    const t = new TypingThrottle()
    const sent = [0, 500, 1000, 2999, 3000, 3100, 5999, 6000, 20_000].filter((now) => t.shouldSend(now))
    expect(sent).toEqual([0, 3000, 6000, 20_000])
  })
})

describe('useTyping', () => {
  beforeEach(() => vi.useFakeTimers({ now: 1_000_000 }))
  afterEach(() => vi.useRealTimers())

  it('ends an indicator 5 s after the last publication, by itself, and at once on their message', async () => {
    const scope = effectScope()
    const t = scope.run(() => useTyping())!
    const names = () => t.users(42).map((u) => u.name)
    t.typing(42, alice)
    vi.advanceTimersByTime(2000)
    t.typing(42, bob)
    t.typing(42, carol)
    t.typing(42, dave)
    expect(names()).toEqual(['alice', 'bob', 'carol', 'dave'])
    // Alice typed again 4 s after her first: she stays until 5 s after that.
    vi.advanceTimersByTime(2000)
    t.typing(42, alice)
    vi.advanceTimersByTime(1000)
    expect(names()).toEqual(['alice', 'bob', 'carol', 'dave'])
    t.stopped(42, carol.id)
    expect(names()).toEqual(['alice', 'bob', 'dave'])
    vi.advanceTimersByTime(2000) // 7 s: bob and dave's last were at 2 s
    expect(names()).toEqual(['alice'])
    vi.advanceTimersByTime(2000) // 9 s: alice's last was at 4 s
    expect(names()).toEqual([])
    expect(vi.getTimerCount()).toBe(0)
    scope.stop()
  })

  it('is reactive: a computed label follows publications and the clock', async () => {
    const { computed } = await import('vue')
    const scope = effectScope()
    const t = scope.run(() => useTyping())!
    const label = scope.run(() => computed(() => typingLabel(t.users(42).map((u) => u.name))))!
    expect(label.value).toBeNull()
    t.typing(42, alice)
    expect(label.value).toBe('alice is typing…')
    t.typing(42, bob)
    expect(label.value).toBe('alice and bob are typing…')
    vi.advanceTimersByTime(TYPING_SHOW_MS)
    expect(label.value).toBeNull()
    scope.stop()
  })
})
