import { describe, expect, it } from 'vitest'
import {
  applyCleared, applyDeleted, applyEdited, applyMessage, applyRead, removeChat, sortChats, totalUnread, upsertChats,
} from '../src/lib/chatList'
import { parsePublication, parseUpdate } from '../src/lib/publications'
import { alice, bob, chat, msg } from './fixtures'

describe('chat list updates', () => {
  it('orders by last activity, then id', () => {
    const t = '2026-11-27T10:00:00.000Z'
    const list = sortChats([chat(1, { updated_at: t }), chat(2, { updated_at: '2026-11-27T11:00:00.000Z' }), chat(3, { updated_at: t })])
    expect(list.map((c) => c.id)).toEqual([2, 3, 1])
  })

  it('a message from someone else moves the chat up and counts once', () => {
    let list = sortChats([chat(1), chat(2)])
    expect(list[0].id).toBe(2)
    const m = msg(10, bob, { chat_id: 1, sent_at: '2030-01-01T00:00:00.000Z' })
    list = applyMessage(list, m, alice.id)!
    expect(list[0]).toMatchObject({ id: 1, unread_count: 1, last_message: m })
    // The same publication again, or a reload that saw it: no second count.
    expect(applyMessage(list, m, alice.id)).toBe(list)
  })

  it('an own message clears the badge and moves the read position', () => {
    const list = [chat(1, { unread_count: 3, read_message_id: 5, last_message: msg(8, bob, { chat_id: 1 }) })]
    const out = applyMessage(list, msg(9, alice, { chat_id: 1 }), alice.id)!
    expect(out[0]).toMatchObject({ unread_count: 0, read_message_id: 9 })
  })

  it('reports an unknown chat', () => {
    expect(applyMessage([chat(1)], msg(3, bob, { chat_id: 9 }), alice.id)).toBeNull()
  })

  it('a read position at the last message clears the badge; elsewhere it takes the known count or asks', () => {
    const list = [chat(1, { unread_count: 4, read_message_id: 2, last_message: msg(6, bob, { chat_id: 1 }) })]
    expect(applyRead(list, 1, 6).list[0].unread_count).toBe(0)
    expect(applyRead(list, 1, 4, 2).list[0].unread_count).toBe(2)
    const unknown = applyRead(list, 1, 4)
    expect(unknown.needsRefresh).toBe(true)
    // The move's own publication came first: the exact count still applies.
    const published = applyRead(list, 1, 4).list
    expect(applyRead(published, 1, 4, 2).list[0].unread_count).toBe(2)
    // Never backwards.
    const back = applyRead(list, 1, 1)
    expect(back.list).toBe(list)
  })

  it('a fresh summary does not overwrite a newer live state', () => {
    const live = [chat(1, { last_message: msg(10, bob, { chat_id: 1 }), unread_count: 2 })]
    const stale = chat(1, { last_message: msg(9, bob, { chat_id: 1 }), unread_count: 1, title: 'renamed' })
    const out = upsertChats(live, [stale])
    expect(out[0]).toMatchObject({ title: 'renamed', unread_count: 2 })
    expect(out[0].last_message!.id).toBe(10)
    // A newer one replaces it.
    const fresh = chat(1, { last_message: msg(11, bob, { chat_id: 1 }), unread_count: 3 })
    expect(upsertChats(out, [fresh])[0].unread_count).toBe(3)
  })

  it('a lagging list does not bring back a badge the user already cleared', () => {
    const last = msg(10, bob, { chat_id: 1 })
    const local = [chat(1, { last_message: last, unread_count: 0, read_message_id: 10 })]
    const lagging = chat(1, { last_message: last, unread_count: 3, read_message_id: 7 })
    expect(upsertChats(local, [lagging])[0]).toMatchObject({ unread_count: 0, read_message_id: 10 })
  })

  it('adds, removes and totals', () => {
    let list = upsertChats([], [chat(1, { unread_count: 2 }), chat(2, { unread_count: 3 })])
    expect(totalUnread(list)).toBe(5)
    list = removeChat(list, 1)
    expect(list.map((c) => c.id)).toEqual([2])
    expect(removeChat(list, 7)).toBe(list)
  })
})

describe('parsePublication', () => {
  it('reads the contract’s publication types', () => {
    const m = msg(1)
    expect(parsePublication({ type: 'message.created', message: m })).toEqual({ type: 'message.created', message: m })
    expect(parsePublication({ type: 'read.updated', chat_id: 1, user_id: 2, message_id: 3 })?.type).toBe('read.updated')
    expect(parsePublication({ type: 'chat.added', chat: chat(1) })?.type).toBe('chat.added')
    expect(parsePublication({ type: 'chat.removed', chat_id: 1 })).toEqual({ type: 'chat.removed', chat_id: 1 })
  })

  it('ignores unknown and malformed ones (newer servers, planned events)', () => {
    expect(parsePublication({ type: 'poll.created', chat_id: 1, poll: { id: 2 } })).toBeNull()
    expect(parsePublication({ type: 'member.updated', chat_id: 1, user: { id: 2, name: 'b' }, role: 'owner' })).toBeNull()
    expect(parsePublication({ type: 'message.created', message: { id: 'x' } })).toBeNull()
    expect(parsePublication({ type: 'message.deleted', chat_id: 1 })).toBeNull()
    expect(parsePublication('hello')).toBeNull()
    expect(parsePublication(null)).toBeNull()
  })
})

describe('parseUpdate (personal channel and GET /updates)', () => {
  it('keeps the cursor of known types, including the member events', () => {
    const m = msg(1)
    expect(parseUpdate({ type: 'message.created', cursor: '3.s', message: m })).toEqual({ type: 'message.created', cursor: '3.s', message: m })
    expect(parsePublication({ type: 'chat.removed', cursor: '4.s', chat_id: 1 })).toEqual({ type: 'chat.removed', cursor: '4.s', chat_id: 1 })
    const member = { user: { id: 9, name: 'carol' }, role: 'member' }
    expect(parseUpdate({ type: 'member.added', cursor: '5.s', chat_id: 1, member, members_count: 3 })).toEqual({
      type: 'member.added', cursor: '5.s', chat_id: 1, member, members_count: 3,
    })
    expect(parseUpdate({ type: 'member.removed', cursor: '6.s', chat_id: 1, user_id: 9, members_count: 2 })).toEqual({
      type: 'member.removed', cursor: '6.s', chat_id: 1, user_id: 9, members_count: 2,
    })
  })

  it('turns an unknown type, or a body it cannot read, into an update to skip past', () => {
    expect(parseUpdate({ type: 'poll.created', cursor: '7.s', chat_id: 1, poll: { id: 2 } })).toEqual({ type: 'unknown', cursor: '7.s' })
    expect(parseUpdate({ type: 'message.edited', cursor: '7.s', message: { id: 1 } })).toEqual({ type: 'unknown', cursor: '7.s' })
    expect(parseUpdate({ type: 'member.added', cursor: '8.s', chat_id: 1 })).toEqual({ type: 'unknown', cursor: '8.s' })
    expect(parseUpdate({ cursor: '9.s' })).toEqual({ type: 'unknown', cursor: '9.s' })
  })

  it('gives null without a cursor; chat-channel publications parse without one as before', () => {
    expect(parseUpdate({ type: 'chat.removed', chat_id: 1 })).toBeNull()
    expect(parseUpdate(null)).toBeNull()
    expect(parsePublication({ type: 'member.removed', chat_id: 1, user_id: 2, members_count: 1 })).toEqual({
      type: 'member.removed', chat_id: 1, user_id: 2, members_count: 1,
    })
    expect(parsePublication({ type: 'chat.updated', cursor: '7.s', chat: {} })).toBeNull()
  })

  it('reads a role change and a renamed chat (API 1.1)', () => {
    expect(parseUpdate({ type: 'member.updated', cursor: '9.s', chat_id: 42, user: { id: 2, name: 'b' }, role: 'moderator' })).toEqual({
      type: 'member.updated', cursor: '9.s', chat_id: 42, user: { id: 2, name: 'b' }, role: 'moderator',
    })
    expect(parsePublication({ type: 'chat.updated', chat: chat(42, { title: 'New title' }) })).toEqual({ type: 'chat.updated', chat: chat(42, { title: 'New title' }) })
  })

  it('reads the message life-cycle events of API 1.1', () => {
    const m = { ...msg(1), edited_at: '2026-11-27T11:00:00.000Z' }
    expect(parseUpdate({ type: 'message.edited', cursor: '7.s', message: m })).toEqual({ type: 'message.edited', cursor: '7.s', message: m })
    expect(parseUpdate({ type: 'message.deleted', cursor: '8.s', chat_id: 42, message_id: 1 })).toEqual({
      type: 'message.deleted', cursor: '8.s', chat_id: 42, message_id: 1,
    })
  })
})

describe('the message life-cycle in the chat list (API 1.1)', () => {
  const last = msg(10, bob)
  const list = [chat(42, { last_message: last, unread_count: 2, read_message_id: 8 }), chat(43)]

  it('an edit of the preview changes the preview; of another message, nothing', () => {
    const edited = { ...last, text: 'changed', edited_at: '2026-11-27T11:00:00.000Z' }
    expect(applyEdited(list, edited)[0].last_message?.text).toBe('changed')
    expect(applyEdited(list, { ...msg(9, bob), text: 'x' })).toBe(list)
  })

  it('deleting the preview blanks it until the chat is fetched again; its place stays', () => {
    const r = applyDeleted(list, 42, 10)
    expect(r.needsRefresh).toBe(true)
    expect(r.list[0]).toMatchObject({ id: 42, last_message: null, updated_at: list[0].updated_at })
    // A fresh summary with the message before it then replaces the blank preview.
    const fresh = upsertChats(r.list, [{ ...list[0], last_message: msg(9, bob), unread_count: 1 }])
    expect(fresh.find((c) => c.id === 42)?.last_message?.id).toBe(9)
  })

  it('deleting an older message needs a fresh count only when it may have been unread', () => {
    expect(applyDeleted(list, 42, 9)).toEqual({ list, needsRefresh: true })
    expect(applyDeleted(list, 42, 5)).toEqual({ list, needsRefresh: false })
    expect(applyDeleted(list, 99, 5)).toEqual({ list, needsRefresh: false })
  })

  it('a cleared history leaves no preview and nothing unread, unless a newer message came meanwhile', () => {
    expect(applyCleared(list, 42, 10)[0]).toMatchObject({ last_message: null, unread_count: 0, read_message_id: 10 })
    expect(applyCleared(list, 42, 9)).toBe(list)
  })
})
