// Message search in the client (API 1.1 "Search"): when it asks, what it keeps, paging.
import { effectScope } from 'vue'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { ApiError, createApi } from '../src/api/client'
import type { Message, SearchPage } from '../src/api/types'
import { useMessageSearch } from '../src/composables/useMessageSearch'
import { msg } from './fixtures'

type Call = { q: string; chatId: number | null | undefined; cursor: string | null | undefined }

/** A fake search endpoint: `total` hits per query, pages of `limit`, each answer when the test says. */
function fakeApi(total = 45) {
  const calls: Call[] = []
  const pending: (() => void)[] = []
  let fail: ApiError | null = null
  const searchMessages = vi.fn((q: string, o: { chatId?: number | null; cursor?: string | null; limit?: number } = {}) => {
    calls.push({ q, chatId: o.chatId, cursor: o.cursor })
    const from = o.cursor ? Number(o.cursor) : 0
    const limit = o.limit ?? 20
    const hits: Message[] = []
    for (let i = from; i < Math.min(total, from + limit); i++) hits.push(msg(1000 - i, undefined, { text: `${q} hit ${i}`, chat_id: o.chatId ?? 42 }))
    const page: SearchPage = { messages: hits, next_cursor: from + limit < total ? String(from + limit) : null }
    return new Promise<SearchPage>((resolve, reject) => pending.push(() => (fail ? reject(fail) : resolve(page))))
  })
  return {
    api: { searchMessages },
    calls,
    /** Answers every request made so far. */
    answer: async () => {
      for (const f of pending.splice(0)) f()
      await Promise.resolve()
      await Promise.resolve()
    },
    setFail: (e: ApiError | null) => (fail = e),
  }
}

describe('useMessageSearch', () => {
  beforeEach(() => vi.useFakeTimers())
  afterEach(() => vi.useRealTimers())

  function setup(total?: number) {
    const server = fakeApi(total)
    const scope = effectScope()
    const s = scope.run(() => useMessageSearch(server.api, { debounceMs: 300 }))!
    return { server, s, scope }
  }

  it('asks once the user stops typing, for what the box says then', async () => {
    const { server, s } = setup()
    s.setQuery('q')
    vi.advanceTimersByTime(100)
    s.setQuery('qu')
    vi.advanceTimersByTime(100)
    s.setQuery('qua')
    expect(s.loading.value).toBe(true)
    vi.advanceTimersByTime(299)
    expect(server.calls).toEqual([])
    vi.advanceTimersByTime(1)
    expect(server.calls).toEqual([{ q: 'qua', chatId: null, cursor: null }])
    await server.answer()
    expect(s.results.value).toHaveLength(20)
    expect(s.searched.value).toBe('qua')
    expect(s.terms.value).toEqual(['qua'])
    expect(s.loading.value).toBe(false)
  })

  it('drops the answer to an older query', async () => {
    const { server, s } = setup()
    s.setQuery('first')
    vi.advanceTimersByTime(300)
    s.setQuery('second')
    await server.answer() // the answer for "first" arrives after the box changed
    expect(s.results.value).toEqual([])
    vi.advanceTimersByTime(300)
    await server.answer()
    expect(s.results.value[0].text).toMatch(/^second/)
    expect(server.calls.map((c) => c.q)).toEqual(['first', 'second'])
  })

  it('pages with next_cursor to the end, each page once, never two at a time', async () => {
    const { server, s } = setup(45)
    s.setQuery('word')
    vi.advanceTimersByTime(300)
    await server.answer()
    s.loadMore()
    s.loadMore()
    expect(server.calls.map((c) => c.cursor)).toEqual([null, '20'])
    await server.answer()
    expect(s.results.value).toHaveLength(40)
    s.loadMore()
    await server.answer()
    expect(s.results.value).toHaveLength(45)
    expect(s.nextCursor.value).toBeNull()
    s.loadMore()
    expect(server.calls).toHaveLength(3)
    expect(new Set(s.results.value.map((m) => m.id)).size).toBe(45)
  })

  it('searches one chat, or every chat again; a new scope starts over', async () => {
    const { server, s } = setup()
    s.setQuery('word')
    vi.advanceTimersByTime(300)
    await server.answer()
    s.setChat(7)
    expect(s.results.value).toEqual([])
    vi.advanceTimersByTime(300)
    await server.answer()
    s.setChat(null)
    vi.advanceTimersByTime(300)
    expect(server.calls.map((c) => c.chatId)).toEqual([null, 7, null])
  })

  it('sends nothing for an empty box, punctuation only, or a query over 256 code points', () => {
    const { server, s } = setup()
    for (const q of ['   ', '?!…', 'я'.repeat(257)]) {
      s.setQuery(q)
      vi.advanceTimersByTime(1000)
    }
    expect(server.calls).toEqual([])
    expect(s.loading.value).toBe(false)
    s.setQuery('я'.repeat(256))
    vi.advanceTimersByTime(300)
    expect(server.calls).toHaveLength(1)
  })

  it('says why it failed, and tries again on request', async () => {
    const { server, s } = setup()
    server.setFail(new ApiError(503, 'unavailable', 'down'))
    s.setQuery('word')
    vi.advanceTimersByTime(300)
    await server.answer()
    expect(s.error.value).toMatch(/temporarily unavailable/)
    server.setFail(null)
    s.retry()
    vi.advanceTimersByTime(300)
    await server.answer()
    expect(s.error.value).toBeNull()
    expect(s.results.value).toHaveLength(20)
  })

  it('an edit changes a shown result; a delete or leaving the chat removes it', async () => {
    const { server, s } = setup(3)
    s.setQuery('word')
    vi.advanceTimersByTime(300)
    await server.answer()
    const [a, b] = s.results.value
    s.applyEdited({ ...a, text: 'word, edited' })
    expect(s.results.value[0].text).toBe('word, edited')
    s.applyDeleted(b.id)
    expect(s.results.value.map((m) => m.id)).not.toContain(b.id)
    s.applyChatGone(42)
    expect(s.results.value).toEqual([])
  })
})

describe('API client: search and typing (1.1)', () => {
  it('GET /search/messages with q, chat_id, limit and cursor', async () => {
    const fetch = vi.fn(async () => new Response(JSON.stringify({ messages: [], next_cursor: null }), { status: 200 }))
    const api = createApi({ getToken: () => 'tok', fetch })
    await api.searchMessages('квазар x', { chatId: 5, cursor: 'abc' })
    await api.searchMessages('all')
    const urls = fetch.mock.calls.map((c) => (c as unknown as [string])[0])
    expect(urls[0]).toBe('/api/v1/search/messages?q=%D0%BA%D0%B2%D0%B0%D0%B7%D0%B0%D1%80+x&chat_id=5&limit=20&cursor=abc')
    expect(urls[1]).toBe('/api/v1/search/messages?q=all&limit=20')
  })

  it('POST /chats/{id}/typing without a body (204)', async () => {
    const fetch = vi.fn(async () => new Response(null, { status: 204 }))
    const api = createApi({ getToken: () => 'tok', fetch })
    await expect(api.typing(9)).resolves.toBeUndefined()
    const [url, init] = fetch.mock.calls[0] as unknown as [string, RequestInit]
    expect(url).toBe('/api/v1/chats/9/typing')
    expect(init.method).toBe('POST')
    expect(init.body).toBeUndefined()
  })
})
