import { computed, onScopeDispose, ref, shallowRef } from 'vue'
import type { Api } from '../api/client'
import { errorMessage } from '../api/errors'
import type { Message } from '../api/types'
import { searchTerms } from '../lib/highlight'

/** The server's limit on a query (API.md 1.1 "Search"), in code points. */
export const MAX_QUERY_CODE_POINTS = 256

export interface SearchOptions {
  /** Wait this long after the last keystroke before asking the server. */
  debounceMs?: number
  pageSize?: number
}

/**
 * Message search (API 1.1 "Search"): the query and its scope (every chat, or one) in,
 * results out, newest first, a page at a time (`next_cursor`). A query is sent once the
 * user stops typing for a moment; an answer to an older query or scope is dropped, so
 * results never belong to anything but what the box says now.
 */
export function useMessageSearch(api: Pick<Api, 'searchMessages'>, opts: SearchOptions = {}) {
  const debounceMs = opts.debounceMs ?? 300
  const query = ref('')
  /** Search only this chat, or every chat (null). */
  const chatId = ref<number | null>(null)
  const results = shallowRef<Message[]>([])
  const nextCursor = ref<string | null>(null)
  const loading = ref(false)
  const error = ref<string | null>(null)
  /** The query the results are for (trimmed), "" before any. */
  const searched = ref('')
  let timer: ReturnType<typeof setTimeout> | null = null
  /** Bumped by every new query or scope: answers to an older one are dropped. */
  let generation = 0

  const q = computed(() => query.value.trim())
  /** The query's words, for highlighting what matched. */
  const terms = computed(() => searchTerms(searched.value))
  /** A query without any word (only punctuation) would match nothing: not sent. */
  const searchable = computed(() => q.value.length > 0 && searchTerms(q.value).length > 0 && Array.from(q.value).length <= MAX_QUERY_CODE_POINTS)

  function reset(): void {
    generation++
    if (timer) clearTimeout(timer)
    timer = null
    results.value = []
    nextCursor.value = null
    loading.value = false
    error.value = null
    searched.value = ''
  }

  async function fetchPage(gen: number, cursor: string | null): Promise<void> {
    loading.value = true
    error.value = null
    const text = q.value
    try {
      const page = await api.searchMessages(text, { chatId: chatId.value, cursor, limit: opts.pageSize ?? 20 })
      if (gen !== generation) return
      // Paging may overlap what the first page had when new messages arrived in between.
      const seen = new Set(results.value.map((m) => m.id))
      results.value = cursor ? [...results.value, ...page.messages.filter((m) => !seen.has(m.id))] : page.messages
      nextCursor.value = page.next_cursor
      searched.value = text
    } catch (err) {
      if (gen === generation) error.value = errorMessage(err, 'search')
    } finally {
      if (gen === generation) loading.value = false
    }
  }

  /** The query or scope changed: results are for the old one until the new answer comes. */
  function changed(): void {
    reset()
    if (!searchable.value) return
    const gen = generation
    loading.value = true
    timer = setTimeout(() => {
      timer = null
      void fetchPage(gen, null)
    }, debounceMs)
  }

  /** The next page, once; nothing while one is loading or at the end. */
  function loadMore(): void {
    if (loading.value || !nextCursor.value || !searched.value) return
    void fetchPage(generation, nextCursor.value)
  }

  function setQuery(text: string): void {
    if (text === query.value) return
    query.value = text
    changed()
  }

  function setChat(id: number | null): void {
    if (id === chatId.value) return
    chatId.value = id
    changed()
  }

  /** A message changed or went away while its result is shown. */
  function applyEdited(m: Message): void {
    if (results.value.some((r) => r.id === m.id)) results.value = results.value.map((r) => (r.id === m.id ? { ...r, ...m } : r))
  }
  function applyDeleted(id: number): void {
    if (results.value.some((r) => r.id === id)) results.value = results.value.filter((r) => r.id !== id)
  }
  function applyChatGone(id: number): void {
    if (results.value.some((r) => r.chat_id === id)) results.value = results.value.filter((r) => r.chat_id !== id)
  }

  onScopeDispose(() => {
    generation++
    if (timer) clearTimeout(timer)
  })

  return {
    query, chatId, results, nextCursor, loading, error, searched, terms, searchable,
    setQuery, setChat, loadMore, retry: changed, applyEdited, applyDeleted, applyChatGone,
  }
}

export type MessageSearch = ReturnType<typeof useMessageSearch>
