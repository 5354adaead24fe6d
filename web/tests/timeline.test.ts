import { describe, expect, it } from 'vitest'
import { buildTimeline } from '../src/lib/timeline'
import { newOutgoing } from '../src/lib/outbox'
import { alice, bob, msg } from './fixtures'

describe('buildTimeline', () => {
  const now = new Date('2026-11-27T12:00:00.000Z')

  it('puts the divider before its message and names each author once per run', () => {
    const list = [msg(1, bob), msg(2, bob), msg(3, alice), msg(4, bob), msg(5, bob)]
    const rows = buildTimeline(list, [], alice.id, 4, now)
    expect(rows.map((r) => r.kind)).toEqual(['day', 'message', 'message', 'message', 'divider', 'message', 'message'])
    const shown = rows.flatMap((r) => (r.kind === 'message' && r.showAuthor ? [r.message.id] : []))
    expect(shown).toEqual([1, 4])
  })

  it('puts unsent messages last, keyed by client id', () => {
    const o = newOutgoing(42, 'hi', 'cid', new Date(msg(2).sent_at))
    const rows = buildTimeline([msg(1), msg(2)], [o], alice.id, null, now)
    expect(rows[rows.length - 1]).toMatchObject({ kind: 'outgoing', key: 'o:cid' })
  })

  it('separates days', () => {
    const a = msg(1, bob, { sent_at: '2026-11-20T12:00:00.000Z' })
    const b = msg(2, bob, { sent_at: '2026-11-27T11:00:00.000Z' })
    const rows = buildTimeline([a, b], [], alice.id, null, now)
    expect(rows.filter((r) => r.kind === 'day')).toHaveLength(2)
  })
})
