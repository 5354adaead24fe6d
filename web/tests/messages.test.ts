import { describe, expect, it } from 'vitest'
import { applyEdit, blankQuotesOf, countUnread, hasMessage, mergeMessages, quoteText, removeMessage } from '../src/lib/messages'
import { alice, bob, msg, msgs } from './fixtures'

const ids = (l: { id: number }[]) => l.map((m) => m.id)

describe('mergeMessages', () => {
  it('appends newer messages and prepends older pages', () => {
    const page = msgs(51, 100)
    expect(ids(mergeMessages(page, [msg(101)]))).toEqual([...ids(page), 101])
    expect(ids(mergeMessages(page, msgs(1, 50)))).toEqual(ids(msgs(1, 100)))
  })

  it('never shows a message twice, whatever order the copies arrive in', () => {
    let list = msgs(1, 10)
    // The same publication twice, the answer to the send, a recovery page overlapping.
    list = mergeMessages(list, [msg(11)])
    list = mergeMessages(list, [msg(11)])
    list = mergeMessages(list, [msg(12), msg(11)])
    list = mergeMessages(list, msgs(5, 15))
    expect(ids(list)).toEqual(ids(msgs(1, 15)))
  })

  it('fills a gap in the middle and stays sorted', () => {
    const list = [...msgs(1, 3), ...msgs(7, 9)]
    expect(ids(mergeMessages(list, [msg(5), msg(4), msg(6)]))).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9])
  })

  it('dedups within the incoming batch', () => {
    expect(ids(mergeMessages([], [msg(2), msg(1), msg(2)]))).toEqual([1, 2])
  })

  it('returns the same array when nothing changed (no needless re-render)', () => {
    const list = msgs(1, 5)
    expect(mergeMessages(list, [])).toBe(list)
    expect(mergeMessages(list, [msg(3)])).toBe(list)
  })

  it('takes a changed copy (an edit) in place', () => {
    const list = msgs(1, 3)
    const out = mergeMessages(list, [msg(2, bob, { text: 'edited' })])
    expect(out).not.toBe(list)
    expect(out[1].text).toBe('edited')
    expect(ids(out)).toEqual([1, 2, 3])
  })

  it('does not mutate its input', () => {
    const list = msgs(1, 3)
    const copy = list.slice()
    mergeMessages(list, [msg(4), msg(0)])
    expect(list).toEqual(copy)
  })
})

describe('hasMessage and countUnread', () => {
  it('finds ids by binary search', () => {
    const list = [msg(2), msg(5), msg(9)]
    expect(hasMessage(list, 5)).toBe(true)
    expect(hasMessage(list, 4)).toBe(false)
    expect(hasMessage([], 1)).toBe(false)
  })

  it('counts only others’ messages after the read position', () => {
    const list = [msg(1), msg(2, alice), msg(3), msg(4, alice), msg(5)]
    expect(countUnread(list, 2, alice.id)).toBe(2)
    expect(countUnread(list, 5, alice.id)).toBe(0)
    expect(countUnread(list, 0, alice.id)).toBe(3)
  })
})

describe('edits and deletes (API 1.1)', () => {
  const reply = msg(3, alice, { reply_to_id: 1, reply_to: { id: 1, author: bob, text: 'message 1' } })
  const list = [msg(1, bob), msg(2, bob), reply]

  it('an edit replaces the message and the quotes of it', () => {
    const out = applyEdit(list, { ...msg(1, bob), text: 'new', edited_at: '2026-11-27T11:00:00.000Z' })
    expect(out[0].text).toBe('new')
    expect(out[2].reply_to?.text).toBe('new')
    expect(applyEdit(list, msg(9, bob))).toBe(list)
  })

  it('a copy from before an edit does not undo it; a later edit does', () => {
    const edited = applyEdit(list, { ...msg(2, bob), text: 'edited', edited_at: '2026-11-27T11:00:00.000Z' })
    expect(mergeMessages(edited, [msg(2, bob)])[1].text).toBe('edited')
    const later = { ...msg(2, bob), text: 'again', edited_at: '2026-11-27T12:00:00.000Z' }
    expect(mergeMessages(edited, [later])[1].text).toBe('again')
  })

  it('a delete removes it; quotes of it become empty ("Deleted message")', () => {
    const out = blankQuotesOf(removeMessage(list, 1), 1)
    expect(out.map((m) => m.id)).toEqual([2, 3])
    expect(out[1].reply_to?.text).toBe('')
    expect(removeMessage(list, 9)).toBe(list)
    expect(blankQuotesOf(list, 2)).toBe(list)
  })

  it('a quote keeps the first 200 code points', () => {
    expect(Array.from(quoteText('😀'.repeat(300)))).toHaveLength(200)
  })
})
