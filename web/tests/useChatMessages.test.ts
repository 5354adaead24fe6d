import { effectScope } from 'vue'
import { describe, expect, it, vi } from 'vitest'
import { ApiError } from '../src/api/client'
import type { Message, MessagePage } from '../src/api/types'
import { useChatMessages } from '../src/composables/useChatMessages'
import { useOutbox } from '../src/composables/useOutbox'
import { alice, bob, msg } from './fixtures'

/**
 * A fake server for one chat: history of `total` messages, idempotent sends keyed by
 * client_id, and a switch to make the network fail. It records every request.
 */
function fakeServer(total: number) {
  const history: Message[] = []
  for (let i = 1; i <= total; i++) history.push(msg(i, i % 3 === 0 ? alice : bob))
  const requests: string[] = []
  const sent: Message[] = []
  let down = false
  let loseAnswer = false
  /** The answer to the next edit, delete or clear: an error to throw, or null to accept. */
  let refuse: ApiError | null = null
  const api = {
    messages: vi.fn(async (_chat: number, p: { before?: number; after?: number; limit?: number } = {}): Promise<MessagePage> => {
      requests.push(p.before ? `before=${p.before}` : p.after ? `after=${p.after}` : 'newest')
      const limit = p.limit ?? 50
      if (p.after !== undefined) {
        const newer = history.filter((m) => m.id > p.after!)
        return { messages: newer.slice(0, limit), has_more: newer.length > limit }
      }
      const older = p.before !== undefined ? history.filter((m) => m.id < p.before!) : history
      return { messages: older.slice(-limit), has_more: older.length > limit }
    }),
    sendMessage: vi.fn(async (chatId: number, text: string, clientId: string) => {
      if (down) throw new ApiError(0, 'network', 'Cannot reach the server')
      let m = history.find((x) => x.client_id === clientId && x.author.id === alice.id)
      if (!m) {
        m = msg(history.length + 1, alice, { chat_id: chatId, text, client_id: clientId })
        history.push(m)
        sent.push(m)
      }
      if (loseAnswer) throw new ApiError(0, 'network', 'Cannot reach the server')
      return { message: m }
    }),
    forwardMessage: vi.fn(async (): Promise<{ message: Message }> => {
      throw new ApiError(0, 'network', 'not in this fake')
    }),
    editMessage: vi.fn(async (_chat: number, id: number, text: string) => {
      requests.push(`edit ${id}`)
      if (refuse) throw refuse
      const i = history.findIndex((m) => m.id === id)
      history[i] = { ...history[i], text, edited_at: '2026-11-27T11:00:00.000Z' }
      return { message: history[i] }
    }),
    deleteMessage: vi.fn(async (_chat: number, id: number, forMe = false) => {
      requests.push(`delete ${id}${forMe ? ' for me' : ''}`)
      if (refuse) throw refuse
      const i = history.findIndex((m) => m.id === id)
      if (i >= 0) history.splice(i, 1)
    }),
    clearHistory: vi.fn(async () => {
      requests.push('clear')
      if (refuse) throw refuse
      history.length = 0
    }),
  }
  return {
    api,
    history,
    requests,
    sent,
    setDown: (v: boolean) => (down = v),
    setLoseAnswer: (v: boolean) => (loseAnswer = v),
    setRefuse: (e: ApiError | null) => (refuse = e),
  }
}

/** A Storage in memory, as localStorage would keep it across a reload. */
function memoryStorage() {
  const data = new Map<string, string>()
  return {
    data,
    getItem: (k: string) => data.get(k) ?? null,
    setItem: (k: string, v: string) => void data.set(k, v),
    removeItem: (k: string) => void data.delete(k),
  }
}

function setup(total: number, storage = memoryStorage()) {
  const server = fakeServer(total)
  const scope = effectScope()
  const outbox = scope.run(() => useOutbox(server.api, alice, { storage }))!
  // Each pane has a scope of its own; the outbox outlives it.
  const open = () => {
    const pane = effectScope()
    const chat = pane.run(() => useChatMessages(server.api, 42, outbox))!
    return { chat, close: () => (chat.dispose(), pane.stop()) }
  }
  const { chat } = open()
  return { server, chat, scope, outbox, storage, open }
}

describe('useChatMessages', () => {
  it('pages to the very first message, each page once, then stops asking', async () => {
    const { server, chat } = setup(300)
    await chat.loadInitial()
    expect(chat.messages.value).toHaveLength(50)
    // Scrolling fires many "load older" calls; concurrent ones are dropped.
    while (chat.hasMore.value) {
      await Promise.all([chat.loadOlder(), chat.loadOlder(), chat.loadOlder()])
    }
    expect(chat.messages.value.map((m) => m.id)).toEqual(server.history.map((m) => m.id))
    expect(server.requests).toEqual(['newest', 'before=251', 'before=201', 'before=151', 'before=101', 'before=51'])
    expect(await chat.loadOlder()).toBe(false)
    expect(server.requests).toHaveLength(6)
  })

  it('opens at the first unread message: loads older pages until it is in', async () => {
    const { server, chat } = setup(700)
    await chat.loadInitial(200, 250)
    expect(server.requests).toEqual(['newest', 'before=501', 'before=301'])
    expect(chat.messages.value[0].id).toBe(101)
    expect(chat.hasMore.value).toBe(true)
    // Paging on from there asks for what is left, once.
    await chat.loadOlder()
    expect(server.requests.at(-1)).toBe('before=101')
  })

  it('gives up extending after a few pages for a huge unread part', async () => {
    const { server, chat } = setup(5000)
    await chat.loadInitial(200, 0, 2)
    expect(server.requests).toHaveLength(3)
    expect(chat.loaded.value).toBe(true)
  })

  it('merges live publications by id, including ones already in a page', async () => {
    const { server, chat } = setup(10)
    const early = msg(11, bob)
    chat.applyLive(early) // arrives while the first page is loading
    server.history.push(early)
    await chat.loadInitial()
    chat.applyLive(early)
    chat.applyLive(msg(12, bob))
    chat.applyLive(msg(12, bob))
    chat.applyLive(msg(99, bob, { chat_id: 7 })) // another chat's
    expect(chat.messages.value.map((m) => m.id)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
  })

  it('shows a send at once as "sending", then the server copy, once, whatever arrives first', async () => {
    const { server, chat } = setup(3)
    await chat.loadInitial()
    const clientId = chat.send('  hello  ')!
    expect(chat.outgoing.value).toMatchObject([{ clientId, status: 'sending', text: 'hello' }])
    await vi.waitFor(() => expect(chat.outgoing.value).toHaveLength(0))
    const copy = server.sent[0]
    // The realtime publication of the same message comes after the answer.
    chat.applyLive(copy)
    expect(chat.messages.value.filter((m) => m.client_id === clientId)).toHaveLength(1)
  })

  it('drops the optimistic copy when the publication beats the answer', async () => {
    const { server, chat } = setup(3)
    await chat.loadInitial()
    let release!: () => void
    server.api.sendMessage.mockImplementationOnce(async (chatId, text, clientId) => {
      await new Promise<void>((r) => (release = r))
      return { message: msg(4, alice, { chat_id: chatId, text, client_id: clientId }) }
    })
    const clientId = chat.send('race')!
    chat.applyLive(msg(4, alice, { text: 'race', client_id: clientId }))
    expect(chat.outgoing.value).toHaveLength(0)
    release()
    await vi.waitFor(() => expect(server.api.sendMessage).toHaveBeenCalled())
    await new Promise((r) => setTimeout(r, 0))
    expect(chat.messages.value.filter((m) => m.client_id === clientId)).toHaveLength(1)
  })

  it('marks a send failed while the gateway is unreachable; retry reuses the client_id and delivers once', async () => {
    const { server, chat } = setup(3)
    await chat.loadInitial()
    server.setDown(true)
    const clientId = chat.send('offline')!
    await vi.waitFor(() => expect(chat.outgoing.value[0]?.status).toBe('failed'))
    expect(chat.outgoing.value[0].error).toContain('Cannot reach')
    server.setDown(false)
    chat.retry(clientId)
    expect(chat.outgoing.value[0].status).toBe('sending')
    await vi.waitFor(() => expect(chat.outgoing.value).toHaveLength(0))
    expect(server.api.sendMessage.mock.calls.map((c) => c[2])).toEqual([clientId, clientId])
    expect(server.sent).toHaveLength(1)
    expect(chat.messages.value.filter((m) => m.text === 'offline')).toHaveLength(1)
  })

  it('a retry after a lost answer does not store the message twice', async () => {
    const { server, chat } = setup(3)
    await chat.loadInitial()
    server.setLoseAnswer(true)
    const clientId = chat.send('lost answer')!
    await vi.waitFor(() => expect(chat.outgoing.value[0]?.status).toBe('failed'))
    server.setLoseAnswer(false)
    chat.retry(clientId)
    await vi.waitFor(() => expect(chat.outgoing.value).toHaveLength(0))
    expect(server.history.filter((m) => m.client_id === clientId)).toHaveLength(1)
    expect(chat.messages.value.filter((m) => m.client_id === clientId)).toHaveLength(1)
  })

  it('keeps a failed message, with its text, when the chat is closed and opened again', async () => {
    const { server, chat, open } = setup(3)
    await chat.loadInitial()
    server.setDown(true)
    const clientId = chat.send('keep me')!
    await vi.waitFor(() => expect(chat.outgoing.value[0]?.status).toBe('failed'))
    chat.dispose()
    const again = open().chat
    await again.loadInitial()
    expect(again.outgoing.value).toMatchObject([{ clientId, text: 'keep me', status: 'failed', retryable: true }])
  })

  it('survives a reload: what was on its way becomes a failure, sent again with its client_id when the connection is back', async () => {
    const first = setup(3)
    await first.chat.loadInitial()
    let release!: () => void
    first.server.api.sendMessage.mockImplementationOnce(() => new Promise((_, reject) => (release = () => reject(new Error('page closed')))))
    const clientId = first.chat.send('in flight at reload')!
    expect(first.storage.data.size).toBe(1)
    // The page goes away with the send unanswered; a new page reads the outbox back.
    const second = setup(3, first.storage)
    expect(second.outbox.items.value).toMatchObject([{ clientId, status: 'failed', retryable: true }])
    expect(second.outbox.retryAll()).toBe(1)
    await vi.waitFor(() => expect(second.outbox.items.value).toHaveLength(0))
    expect(second.server.api.sendMessage.mock.calls[0][2]).toBe(clientId)
    expect(first.storage.data.size).toBe(0)
    release()
  })

  it('retryAll sends again only what may have been the network', async () => {
    const { server, chat, outbox } = setup(3)
    await chat.loadInitial()
    server.setDown(true)
    chat.send('network')
    server.api.sendMessage.mockRejectedValueOnce(new ApiError(403, 'forbidden', 'muted'))
    chat.send('muted')
    await vi.waitFor(() => expect(chat.outgoing.value.every((o) => o.status === 'failed')).toBe(true))
    expect(chat.outgoing.value.map((o) => [o.text, o.retryable])).toEqual([['network', true], ['muted', false]])
    expect(chat.outgoing.value[1].error).toBe('You cannot send messages in this chat.')
    server.setDown(false)
    expect(outbox.retryAll()).toBe(1)
    await vi.waitFor(() => expect(chat.outgoing.value.map((o) => o.text)).toEqual(['muted']))
  })

  it('an edit shows at once and takes the server copy; a refused one rolls back', async () => {
    const { server, chat } = setup(5)
    await chat.loadInitial()
    const own = server.history[2] // id 3, alice's
    const p = chat.edit(own.id, '  new text ')
    expect(chat.messages.value[2]).toMatchObject({ id: 3, text: 'new text' })
    expect(chat.messages.value[2].edited_at).toBeTruthy()
    await p
    expect(chat.messages.value[2].edited_at).toBe('2026-11-27T11:00:00.000Z')
    server.setRefuse(new ApiError(403, 'forbidden', 'not the author'))
    await expect(chat.edit(own.id, 'refused')).rejects.toBeInstanceOf(ApiError)
    expect(chat.messages.value[2].text).toBe('new text')
    // A history page from before the edit does not bring the old text back.
    chat.applyLive({ ...own })
    expect(chat.messages.value[2].text).toBe('new text')
  })

  it('a delete hides the message at once and for good; a refused one puts it back', async () => {
    const { server, chat } = setup(5)
    await chat.loadInitial()
    server.setRefuse(new ApiError(403, 'forbidden', 'not allowed'))
    await expect(chat.remove(2, false)).rejects.toBeInstanceOf(ApiError)
    expect(chat.messages.value.map((m) => m.id)).toEqual([1, 2, 3, 4, 5])
    server.setRefuse(null)
    await chat.remove(2, true)
    expect(server.requests.at(-1)).toBe('delete 2 for me')
    expect(chat.messages.value.map((m) => m.id)).toEqual([1, 3, 4, 5])
    chat.applyLive(msg(2, bob)) // a late copy of it
    expect(chat.messages.value.map((m) => m.id)).toEqual([1, 3, 4, 5])
  })

  it('live edits and deletes change the message and the quotes of it', async () => {
    const { server, chat } = setup(3)
    server.history.push(msg(4, bob, { reply_to_id: 2, reply_to: { id: 2, author: bob, text: 'message 2' } }))
    await chat.loadInitial()
    chat.applyEdited({ ...server.history[1], text: 'changed', edited_at: '2026-11-27T11:00:00.000Z' })
    expect(chat.messages.value[1].text).toBe('changed')
    expect(chat.messages.value[3].reply_to?.text).toBe('changed')
    chat.applyDeleted(2)
    expect(chat.messages.value.map((m) => m.id)).toEqual([1, 3, 4])
    expect(chat.messages.value[2].reply_to?.text).toBe('')
  })

  it('clearing the history empties the view for good; a refusal restores it', async () => {
    const { server, chat } = setup(5)
    await chat.loadInitial()
    server.setRefuse(new ApiError(503, 'unavailable', 'down'))
    await expect(chat.clearHistory()).rejects.toBeInstanceOf(ApiError)
    expect(chat.messages.value).toHaveLength(5)
    server.setRefuse(null)
    await chat.clearHistory()
    expect(chat.messages.value).toHaveLength(0)
    chat.applyLive(msg(5, bob)) // a late copy
    chat.applyLive(msg(6, bob)) // a new message
    expect(chat.messages.value.map((m) => m.id)).toEqual([6])
  })

  it('loads older pages until a quoted message is in', async () => {
    const { server, chat } = setup(300)
    await chat.loadInitial()
    expect(await chat.ensureLoaded(120)).toBe(true)
    expect(server.requests).toEqual(['newest', 'before=251', 'before=201', 'before=151'])
    expect(await chat.ensureLoaded(0)).toBe(false)
  })

  it('ignores empty texts', () => {
    const { chat } = setup(0)
    expect(chat.send('   \n ')).toBeNull()
    expect(chat.outgoing.value).toHaveLength(0)
  })

  it('catches up after a failed recovery with pages after the newest loaded id', async () => {
    const { server, chat } = setup(20)
    await chat.loadInitial()
    for (let i = 21; i <= 25; i++) server.history.push(msg(i, bob))
    await chat.catchUp()
    expect(server.requests).toEqual(['newest', 'after=20'])
    expect(chat.messages.value.at(-1)!.id).toBe(25)
  })

  it('starts over from the newest page when too far behind', async () => {
    const { server, chat } = setup(10)
    await chat.loadInitial()
    for (let i = 11; i <= 2000; i++) server.history.push(msg(i, bob))
    await chat.catchUp(2)
    expect(chat.messages.value.map((m) => m.id)).toEqual(server.history.slice(-50).map((m) => m.id))
    expect(chat.hasMore.value).toBe(true)
  })
})

describe('the outbox across tabs', () => {
  it('takes another tab’s list, keeping what this tab is sending', async () => {
    const { server, chat, outbox } = setup(3)
    await chat.loadInitial()
    let release!: () => void
    server.api.sendMessage.mockImplementationOnce(() => new Promise((_, reject) => (release = () => reject(new ApiError(0, 'network', 'x')))))
    const mineId = chat.send('mine, on its way')!
    // The other tab's list: its own failure, and none of ours.
    outbox.adopt([{ clientId: 'theirs', chatId: 42, text: 'failed there', status: 'failed', retryable: true }])
    expect(outbox.items.value.map((o) => [o.clientId, o.status])).toEqual([['theirs', 'failed'], [mineId, 'sending']])
    release()
    await vi.waitFor(() => expect(outbox.items.value.find((o) => o.clientId === mineId)?.status).toBe('failed'))
    // The other tab sent its message: gone here too.
    outbox.adopt([])
    expect(outbox.items.value).toEqual([])
  })
})

describe('opening a chat at a message (a search result)', () => {
  it('loads the page around it, then pages down as well as up', async () => {
    const { server, chat } = setup(300)
    expect(await chat.loadAround(100)).toBe(true)
    expect(server.requests).toEqual(['before=101', 'after=100'])
    expect(chat.messages.value.map((m) => m.id)).toEqual(Array.from({ length: 50 }, (_, i) => 76 + i))
    expect(chat.hasNewer.value).toBe(true)
    expect(chat.hasMore.value).toBe(true)
    while (chat.hasNewer.value) await Promise.all([chat.loadNewer(), chat.loadNewer()])
    expect(chat.messages.value.at(-1)!.id).toBe(300)
    expect(server.requests.filter((r) => r.startsWith('after='))).toEqual(['after=100', 'after=125', 'after=175', 'after=225', 'after=275'])
    expect(await chat.loadNewer()).toBe(false)
    // Nothing missing between the message and the newest.
    const ids = chat.messages.value.map((m) => m.id)
    expect(ids).toEqual(Array.from({ length: ids.length }, (_, i) => ids[0] + i))
  })

  it('a message among the newest opens as usual', async () => {
    const { chat } = setup(30)
    await chat.loadAround(25)
    expect(chat.hasNewer.value).toBe(false)
    expect(chat.messages.value.at(-1)!.id).toBe(30)
  })

  it('while the newest are not loaded, live messages wait for paging down (no hole before them)', async () => {
    const { server, chat } = setup(300)
    await chat.loadAround(100)
    const live = msg(301)
    server.history.push(live)
    chat.applyLive(live)
    expect(chat.messages.value.some((m) => m.id === 301)).toBe(false)
    await chat.catchUp()
    expect(server.requests).toEqual(['before=101', 'after=100'])
    while (chat.hasNewer.value) await chat.loadNewer()
    expect(chat.messages.value.at(-1)!.id).toBe(301)
  })

  it('jumpTo scrolls within what is loaded, else starts over around the message; jumpToLatest goes back', async () => {
    const { server, chat } = setup(300)
    await chat.loadInitial()
    expect(await chat.jumpTo(280)).toBe(true)
    expect(server.requests).toEqual(['newest'])
    expect(await chat.jumpTo(40)).toBe(true)
    expect(chat.messages.value[0].id).toBe(16)
    expect(chat.hasNewer.value).toBe(true)
    await chat.jumpToLatest()
    expect(chat.hasNewer.value).toBe(false)
    expect(chat.messages.value.at(-1)!.id).toBe(300)
    expect(chat.messages.value).toHaveLength(50)
  })

  it('a message that is gone is reported as not found', async () => {
    const { server, chat } = setup(100)
    server.history.splice(49, 1) // message 50
    expect(await chat.loadAround(50)).toBe(false)
    expect(chat.loaded.value).toBe(true)
  })

  it('a send from an older part goes back to the newest messages first', async () => {
    const { server, chat } = setup(300)
    await chat.loadAround(100)
    chat.send('hello from the past')
    await vi.waitFor(() => expect(chat.hasNewer.value).toBe(false))
    await vi.waitFor(() => expect(chat.messages.value.at(-1)!.text).toBe('hello from the past'))
    expect(server.requests).toContain('newest')
  })
})
