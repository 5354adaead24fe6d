import { effectScope } from 'vue'
import { describe, expect, it, vi } from 'vitest'
import { ApiError } from '../src/api/client'
import type { Message, MessagePage } from '../src/api/types'
import { useChatMessages } from '../src/composables/useChatMessages'
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
  }
  return {
    api,
    history,
    requests,
    sent,
    setDown: (v: boolean) => (down = v),
    setLoseAnswer: (v: boolean) => (loseAnswer = v),
  }
}

function setup(total: number) {
  const server = fakeServer(total)
  const scope = effectScope()
  const chat = scope.run(() => useChatMessages(server.api, 42, alice))!
  return { server, chat, scope }
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
