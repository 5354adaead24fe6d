import { effectScope } from 'vue'
import { describe, expect, it, vi } from 'vitest'
import { useChatList } from '../src/composables/useChatList'
import { alice, bob, chat, msg } from './fixtures'

function setup() {
  const api = {
    listChats: vi.fn(async () => ({ chats: [chat(1), chat(2)], next_cursor: null })),
    getChat: vi.fn(async (id: number) => ({ ...chat(id, { unread_count: 1, last_message: msg(500, bob, { chat_id: id }) }), created_at: '', members: [] })),
  }
  const list = effectScope().run(() => useChatList(api, alice))!
  return { api, list }
}

describe('useChatList', () => {
  it('follows publications: messages, reads, chats added and removed', async () => {
    const { list } = setup()
    await list.load()
    expect(list.channels.value.sort()).toEqual(['chat:1', 'chat:2'])
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

  it('fetches a chat it does not know when a message for it arrives', async () => {
    vi.useFakeTimers()
    try {
      const { list, api } = setup()
      await list.load()
      list.apply({ type: 'message.created', message: msg(500, bob, { chat_id: 9 }) })
      await vi.advanceTimersByTimeAsync(10)
      expect(api.getChat).toHaveBeenCalledWith(9)
      expect(list.byId(9)?.unread_count).toBe(1)
    } finally {
      vi.useRealTimers()
    }
  })

  it('makes one request for a burst of reloads', async () => {
    vi.useFakeTimers()
    try {
      const { list, api } = setup()
      for (let i = 0; i < 20; i++) list.reloadSoon()
      await vi.advanceTimersByTimeAsync(1000)
      expect(api.listChats).toHaveBeenCalledTimes(1)
    } finally {
      vi.useRealTimers()
    }
  })
})
