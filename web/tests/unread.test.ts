import { describe, expect, it } from 'vitest'
import { baselineOnArrival, dividerBaseline, initialPageSize, unreadDividerId } from '../src/lib/unread'
import { alice, bob, msg, msgs } from './fixtures'

describe('unread divider placement', () => {
  it('goes before the first message from someone else after the read position', () => {
    const list = msgs(1, 10)
    expect(unreadDividerId(list, 6, alice.id)).toBe(7)
  })

  it('skips the user’s own messages after the read position', () => {
    const list = [msg(1), msg(2, alice), msg(3, alice), msg(4, bob)]
    expect(unreadDividerId(list, 1, alice.id)).toBe(4)
  })

  it('is absent when nothing was unread at opening', () => {
    expect(dividerBaseline(0, 10)).toBeNull()
    expect(unreadDividerId(msgs(1, 12), null, alice.id)).toBeNull()
  })

  it('is absent when only the user wrote after the read position', () => {
    expect(unreadDividerId([msg(1), msg(2, alice)], 1, alice.id)).toBeNull()
  })

  it('stays put while the user reads: the baseline, not the live position, decides', () => {
    const baseline = dividerBaseline(3, 7)
    expect(baseline).toBe(7)
    const list = msgs(1, 10)
    expect(unreadDividerId(list, baseline, alice.id)).toBe(8)
    // New messages arrive and the read position moves on: still before 8.
    expect(unreadDividerId([...list, msg(11), msg(12)], baseline, alice.id)).toBe(8)
  })

  it('moves to the true first unread when older pages are loaded', () => {
    // Read up to 40; the newest page holds 61..100; after paging it holds 41..100.
    expect(unreadDividerId(msgs(61, 100), 40, alice.id)).toBe(61)
    expect(unreadDividerId(msgs(41, 100), 40, alice.id)).toBe(41)
  })

  it('handles a read position of 0 (never read)', () => {
    expect(unreadDividerId(msgs(1, 3), 0, alice.id)).toBe(1)
  })

  it('sizes the first page so the first unread message is in it', () => {
    expect(initialPageSize(0)).toBe(50)
    expect(initialPageSize(100)).toBe(120)
    expect(initialPageSize(5000)).toBe(200)
  })
})

describe('the divider for messages that arrive while the user reads above', () => {
  it('goes after the newest message seen, never past the arrivals', () => {
    expect(baselineOnArrival(null, 40, 40)).toBe(40)
    expect(baselineOnArrival(null, 40, 25)).toBe(25)
    expect(baselineOnArrival(null, 40, 0)).toBe(40)
  })

  it('stays where it is while it still marks something not reached', () => {
    expect(baselineOnArrival(30, 40, 25)).toBe(30)
    // The user has read past it: it moves down.
    expect(baselineOnArrival(10, 40, 40)).toBe(40)
  })
})
