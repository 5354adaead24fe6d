import { describe, expect, it } from 'vitest'
import { follow, rendered } from '../src/lib/follow'
import { newOutgoing } from '../src/lib/outbox'
import { alice, bob, msg, msgs } from './fixtures'

describe('following new messages in the pane', () => {
  const before = msgs(1, 10)
  const prev = rendered(before, [])

  it('at the bottom, anything new scrolls into view', () => {
    const next = [...before, msg(11, bob)]
    expect(follow(prev, rendered(next, []), next, true, alice.id)).toEqual({ scroll: 'bottom', arrivedBelow: 0, prepended: false })
  })

  it('reading above, new messages of others stay below and are counted; own ones are not', () => {
    const next = [...before, msg(11, bob), msg(12, alice), msg(13, bob)]
    expect(follow(prev, rendered(next, []), next, false, alice.id)).toEqual({ scroll: 'keep', arrivedBelow: 2, prepended: false })
  })

  it('the user’s own send scrolls to it from anywhere; its server copy then changes nothing when above', () => {
    const o = newOutgoing(42, 'hi', 'c-new')
    const sending = rendered(before, [o])
    expect(follow(prev, sending, before, false, alice.id).scroll).toBe('bottom')
    // The same outgoing message again (a retry) is no new send.
    expect(follow(sending, rendered(before, [{ ...o, status: 'failed' }]), before, false, alice.id).scroll).toBe('keep')
    const accepted = [...before, msg(11, alice, { client_id: 'c-new' })]
    expect(follow(sending, rendered(accepted, []), accepted, false, alice.id)).toEqual({ scroll: 'keep', arrivedBelow: 0, prepended: false })
  })

  it('an older page is no arrival', () => {
    const next = [...msgs(1, 5).map((m) => ({ ...m, id: m.id - 5 })), ...before]
    const d = follow(prev, rendered(next, []), next, false, alice.id)
    expect(d).toEqual({ scroll: 'keep', arrivedBelow: 0, prepended: true })
  })

  it('what was rendered is read from the data: the last row is the newest unsent message, if any', () => {
    expect(rendered([], [])).toEqual({ firstId: undefined, lastId: 0, lastKey: undefined, outgoing: new Set() })
    const r = rendered(before, [newOutgoing(42, 'x', 'c1')])
    expect(r).toMatchObject({ firstId: 1, lastId: 10, lastKey: 'o:c1' })
  })
})
