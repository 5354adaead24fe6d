import { effectScope } from 'vue'
import { describe, expect, it, vi } from 'vitest'
import { ApiError } from '../src/api/client'
import type { Chat, ChatSummary } from '../src/api/types'
import { useChatList } from '../src/composables/useChatList'
import { alice, bob, chat, msg } from './fixtures'

const full = (c: ChatSummary): Chat => ({ ...c, created_at: c.updated_at, members: [] })

function setup(getChat?: (id: number) => Promise<Chat>) {
  const api = {
    listChats: vi.fn(async () => ({ chats: [chat(1), chat(2)], next_cursor: 'more' as string | null })),
    getChat: vi.fn(getChat ?? (async (id: number) => full(chat(id, { unread_count: 1, last_message: msg(500, bob, { chat_id: id }) })))),
  }
  const list = effectScope().run(() => useChatList(api, alice))!
  return { api, list }
}

/** Resolves once fn() is true, checking after each turn of the event loop (no fixed sleep). */
async function until(fn: () => boolean) {
  for (let i = 0; i < 1000 && !fn(); i++) await new Promise((r) => setTimeout(r, 0))
  expect(fn()).toBe(true)
}

describe('useChatList', () => {
  it('follows updates: messages, reads, chats added and removed', async () => {
    const { list } = setup()
    await list.load()
    list.apply({ type: 'message.created', message: msg(10, bob, { chat_id: 1, sent_at: '2030-01-01T00:00:00.000Z' }) })
    list.apply({ type: 'message.created', message: msg(10, bob, { chat_id: 1, sent_at: '2030-01-01T00:00:00.000Z' }) })
    expect(list.chats.value[0]).toMatchObject({ id: 1, unread_count: 1 })
    expect(list.unreadTotal.value).toBe(1)
    // Someone else's read position changes nothing here; the user's own clears the badge.
    list.apply({ type: 'read.updated', chat_id: 1, user_id: bob.id, message_id: 10 })
    expect(list.unreadTotal.value).toBe(1)
    list.apply({ type: 'read.updated', chat_id: 1, user_id: alice.id, message_id: 10 })
    expect(list.unreadTotal.value).toBe(0)
    list.apply({ type: 'chat.added', chat: chat(3) })
    list.apply({ type: 'chat.removed', chat_id: 2 })
    expect(list.chats.value.map((c) => c.id).sort()).toEqual([1, 3])
  })

  it('the message life-cycle and renames change the list in place (API 1.1)', async () => {
    const { list, api } = setup()
    await list.load()
    const last = msg(10, bob, { chat_id: 1, sent_at: '2030-01-01T00:00:00.000Z' })
    list.apply({ type: 'message.created', message: last })
    list.apply({ type: 'message.edited', message: { ...last, text: 'edited', edited_at: '2030-01-01T00:01:00.000Z' } })
    expect(list.byId(1)?.last_message?.text).toBe('edited')
    // A rename carries a summary without the user's last message: the title changes, the rest stays.
    list.apply({ type: 'chat.updated', chat: chat(1, { title: 'Renamed' }) })
    expect(list.byId(1)).toMatchObject({ title: 'Renamed', unread_count: 1, last_message: { id: 10 } })
    // The preview deleted: blank at once, then the chat's summary fetched again.
    list.apply({ type: 'message.deleted', chat_id: 1, message_id: 10 })
    expect(list.byId(1)?.last_message).toBeNull()
    await until(() => api.getChat.mock.calls.length === 1)
    await until(() => list.byId(1)?.last_message?.id === 500)
    list.apply({ type: 'history.cleared', chat_id: 1, through_id: 500 })
    expect(list.byId(1)).toMatchObject({ last_message: null, unread_count: 0 })
  })

  it('member events set the member count', async () => {
    const { list } = setup()
    await list.load()
    list.apply({ type: 'member.added', chat_id: 1, member: { user: { id: 9, name: 'carol' }, role: 'member' }, members_count: 3 })
    expect(list.byId(1)?.members_count).toBe(3)
    list.apply({ type: 'member.removed', chat_id: 1, user_id: 9, members_count: 2 })
    expect(list.byId(1)?.members_count).toBe(2)
    // A chat not in the list: nothing to change, nothing fetched.
    list.apply({ type: 'member.removed', chat_id: 77, user_id: 9, members_count: 2 })
    expect(list.byId(77)).toBeUndefined()
  })

  it('a message for a chat beyond the loaded pages fetches it and puts it on top with its unread count', async () => {
    const { list, api } = setup(async (id) => full(chat(id, { unread_count: 1, last_message: msg(500, bob, { chat_id: id }), updated_at: msg(500).sent_at })))
    await list.load()
    list.apply({ type: 'message.created', message: msg(500, bob, { chat_id: 9 }) })
    await until(() => !!list.byId(9))
    expect(api.getChat).toHaveBeenCalledWith(9)
    expect(list.chats.value[0]).toMatchObject({ id: 9, unread_count: 1 })
  })

  it('applies a message newer than the fetched summary once, and never counts one the summary has', async () => {
    let answer!: (c: Chat) => void
    const { list, api } = setup(() => new Promise((r) => (answer = r)))
    await list.load()
    // Three messages arrive while the chat is being fetched: one request.
    list.apply({ type: 'message.created', message: msg(500, bob, { chat_id: 9 }) })
    list.apply({ type: 'message.created', message: msg(501, bob, { chat_id: 9 }) })
    list.apply({ type: 'message.created', message: msg(502, alice, { chat_id: 9 }) })
    list.apply({ type: 'message.created', message: msg(503, bob, { chat_id: 9 }) })
    expect(api.getChat).toHaveBeenCalledTimes(1)
    // The summary (a projection that lags) has 500 and 501 in its count, not 502 and 503.
    answer(full(chat(9, { unread_count: 2, read_message_id: 0, last_message: msg(501, bob, { chat_id: 9 }), updated_at: msg(501).sent_at })))
    await until(() => !!list.byId(9))
    // 502 is the user's own (moves the read position there: 0 unread), 503 counts once.
    expect(list.byId(9)).toMatchObject({ unread_count: 1, read_message_id: 502 })
    expect(list.byId(9)?.last_message?.id).toBe(503)
    expect(list.chats.value[0].id).toBe(9)
  })

  it('the user’s own message in an unknown chat never counts as unread', async () => {
    const { list } = setup(async (id) => full(chat(id, { unread_count: 0, read_message_id: 400, last_message: msg(400, alice, { chat_id: id }) })))
    await list.load()
    list.apply({ type: 'message.created', message: msg(401, alice, { chat_id: 9 }) })
    await until(() => list.byId(9)?.last_message?.id === 401)
    expect(list.byId(9)?.unread_count).toBe(0)
  })

  it('forgets an unknown chat it may not see (404), without retrying', async () => {
    const { list, api } = setup(async () => {
      throw new ApiError(404, 'not_found', 'no such chat')
    })
    await list.load()
    list.apply({ type: 'message.created', message: msg(500, bob, { chat_id: 9 }) })
    await until(() => api.getChat.mock.settledResults.length === 1)
    expect(list.byId(9)).toBeUndefined()
    // A later message asks again (the fetch is over, not stuck).
    list.apply({ type: 'message.created', message: msg(501, bob, { chat_id: 9 }) })
    await until(() => api.getChat.mock.settledResults.length === 2)
  })

  it('reload starts over from the first page, keeping live changes made while it loaded', async () => {
    const { list, api } = setup()
    await list.load()
    list.addChat(chat(5)) // a chat from a later page, gone from the server since
    let answer!: (p: { chats: ChatSummary[]; next_cursor: string | null }) => void
    api.listChats.mockImplementationOnce(() => new Promise((r) => (answer = r)))
    const done = list.reload()
    list.apply({ type: 'message.created', message: msg(900, bob, { chat_id: 1, sent_at: '2030-01-01T00:00:00.000Z' }) })
    list.apply({ type: 'chat.removed', chat_id: 2 })
    // The page predates both.
    answer({ chats: [chat(1), chat(2), chat(3)], next_cursor: null })
    await done
    expect(list.chats.value.map((c) => c.id)).toEqual([1, 3])
    expect(list.byId(1)).toMatchObject({ unread_count: 1 })
    expect(list.byId(1)?.last_message?.id).toBe(900)
    expect(list.nextCursor.value).toBeNull()
  })
})
