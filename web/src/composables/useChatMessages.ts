import { computed, onScopeDispose, ref, shallowRef } from 'vue'
import type { Api } from '../api/client'
import { errorMessage } from '../api/errors'
import type { Message, MessageRef } from '../api/types'
import { applyEdit, blankQuotesOf, hasMessage, mergeMessages, removeMessage } from '../lib/messages'
import { normalizeText } from '../lib/outbox'
import type { Outbox } from './useOutbox'

type MessagesApi = Pick<Api, 'messages' | 'editMessage' | 'deleteMessage' | 'clearHistory'>

/**
 * The message list of one open chat: history pages, live publications and the user's own
 * sends, merged by message id so that nothing is ever shown twice.
 *
 * - `messages`: the server's messages, ascending by id, unique.
 * - `outgoing`: the user's messages to this chat not yet accepted ("sending") or
 *   rejected ("failed"), from the user's outbox (which outlives this pane); an accepted
 *   one leaves it and its server copy joins `messages` — whichever of the send's answer
 *   and the realtime publication comes first.
 * - Edits and deletes (API 1.1) are optimistic: shown at once, rolled back when the
 *   server refuses (the promise then rejects, for the caller to say why). A deleted id is
 *   remembered, so that a history page that was on its way cannot bring it back.
 * - Paging up stops for good once a page says has_more=false; a page is never asked for
 *   twice, and never while another is loading.
 * - Opened at a message (a search result, API 1.1): the page around it is loaded, and
 *   while the newest messages are not loaded (`hasNewer`) the view pages down as well as
 *   up. Live messages are not added then — they would sit after a hole that paging down
 *   must fill first; they come with the page that reaches them.
 */
export interface ChatMessagesOptions {
  pageSize?: number
  /** The server accepted one of the user's messages to this chat (before or after its publication). */
  onAccepted?: (message: Message) => void
}

export function useChatMessages(
  api: MessagesApi,
  chatId: number,
  outbox: Outbox,
  opts: ChatMessagesOptions = {},
) {
  const pageSize = opts.pageSize ?? 50
  const messages = shallowRef<Message[]>([])
  const outgoing = computed(() => outbox.forChat(chatId))
  /** Deleted (or hidden) here: never shown again, whatever page brings them. */
  const deleted = new Set<number>()
  /** Cleared history: nothing at or below this id is shown again. */
  let clearedUpTo = 0
  let olderInFlight: Promise<boolean> | null = null
  const hasMore = ref(true)
  /** Newer messages than the loaded ones exist (opened at an older message); false in the usual case. */
  const hasNewer = ref(false)
  const loadingInitial = ref(false)
  const loadingOlder = ref(false)
  const loadingNewer = ref(false)
  let newerInFlight: Promise<boolean> | null = null
  /** `after` values already asked for while paging down. */
  const requestedAfter = new Set<number>()
  const loaded = ref(false)
  const error = ref<string | null>(null)
  /** `before` values already asked for: a guard against asking for a page twice. */
  const requestedBefore = new Set<number>()
  let catchingUp: Promise<void> | null = null
  let disposed = false

  function add(incoming: Message[], live = false): void {
    outbox.settle(incoming)
    // With newer messages not loaded, a live one would leave a hole before it.
    const limit = live && hasNewer.value ? newestId.value : Infinity
    const shown = incoming.filter((m) => m.id > clearedUpTo && !deleted.has(m.id) && m.id <= limit)
    messages.value = mergeMessages(messages.value, shown)
  }

  const offAccepted = outbox.onAccepted((m) => {
    if (m.chat_id !== chatId || disposed) return
    add([m], true)
    opts.onAccepted?.(m)
  })
  onScopeDispose(() => offAccepted())

  /**
   * Loads the newest page. With `unreadAfter` (the read position, when something is
   * unread) it keeps loading older pages until the first unread message is in, so the
   * chat can open at the "new messages" divider — within `maxExtraPages` pages of 200.
   */
  async function loadInitial(limit = pageSize, unreadAfter: number | null = null, maxExtraPages = 4): Promise<void> {
    if (loadingInitial.value) return
    loadingInitial.value = true
    error.value = null
    try {
      const page = await api.messages(chatId, { limit })
      if (disposed) return
      add(page.messages)
      hasMore.value = page.has_more
      for (let i = 0; i < maxExtraPages && unreadAfter !== null && hasMore.value; i++) {
        const oldest = messages.value[0]
        if (!oldest || oldest.id <= unreadAfter) break
        requestedBefore.add(oldest.id)
        const older = await api.messages(chatId, { before: oldest.id, limit: 200 })
        if (disposed) return
        add(older.messages)
        hasMore.value = older.has_more
      }
      loaded.value = true
    } catch (err) {
      error.value = errorMessage(err)
    } finally {
      loadingInitial.value = false
    }
  }

  /** Loads the page before the oldest loaded message. Returns whether a request was made. */
  function loadOlder(): Promise<boolean> {
    if (olderInFlight) return olderInFlight
    const p = loadOlderOnce()
    olderInFlight = p
    void p.finally(() => {
      if (olderInFlight === p) olderInFlight = null
    })
    return p
  }

  async function loadOlderOnce(): Promise<boolean> {
    if (!loaded.value || !hasMore.value || loadingOlder.value || loadingInitial.value) return false
    const oldest = messages.value[0]
    if (!oldest) {
      hasMore.value = false
      return false
    }
    if (requestedBefore.has(oldest.id)) return false
    requestedBefore.add(oldest.id)
    loadingOlder.value = true
    error.value = null
    try {
      const page = await api.messages(chatId, { before: oldest.id, limit: pageSize })
      if (disposed) return true
      add(page.messages)
      hasMore.value = page.has_more
    } catch (err) {
      // Let a later scroll ask again.
      requestedBefore.delete(oldest.id)
      error.value = errorMessage(err)
    } finally {
      loadingOlder.value = false
    }
    return true
  }

  /** A message.created publication for this chat. */
  function applyLive(msg: Message): void {
    if (msg.chat_id !== chatId) return
    add([msg], true)
  }

  function forget(): void {
    messages.value = []
    requestedBefore.clear()
    requestedAfter.clear()
    hasMore.value = true
    hasNewer.value = false
    loaded.value = false
  }

  /**
   * Loads the messages around `id` (half before it, itself, half after) instead of the
   * newest page: the chat opens at that message. Resolves whether it is there.
   */
  async function loadAround(id: number, limit = pageSize): Promise<boolean> {
    if (loadingInitial.value) return false
    loadingInitial.value = true
    error.value = null
    const half = Math.max(1, Math.ceil(limit / 2))
    try {
      // Ids are unique, so before=id+1 is "up to and including id".
      const [older, newer] = await Promise.all([
        api.messages(chatId, { before: id + 1, limit: half }),
        api.messages(chatId, { after: id, limit: half }),
      ])
      if (disposed) return false
      add(older.messages)
      add(newer.messages)
      hasMore.value = older.has_more
      hasNewer.value = newer.has_more
      loaded.value = true
      return hasMessage(messages.value, id)
    } catch (err) {
      error.value = errorMessage(err)
      return false
    } finally {
      loadingInitial.value = false
    }
  }

  /** Shows message `id`: at once when it is loaded, else by loading the page around it. */
  async function jumpTo(id: number): Promise<boolean> {
    if (hasMessage(messages.value, id)) return true
    if (deleted.has(id) || id <= clearedUpTo) return false
    forget()
    return loadAround(id)
  }

  /** Back to the newest messages after a jump into older ones (the jump button, a send). */
  async function jumpToLatest(): Promise<void> {
    if (!hasNewer.value) return
    forget()
    await loadInitial()
  }

  /** Loads the page after the newest loaded message, while newer ones exist. Returns whether a request was made. */
  function loadNewer(): Promise<boolean> {
    if (newerInFlight) return newerInFlight
    const p = loadNewerOnce()
    newerInFlight = p
    void p.finally(() => {
      if (newerInFlight === p) newerInFlight = null
    })
    return p
  }

  async function loadNewerOnce(): Promise<boolean> {
    if (!loaded.value || !hasNewer.value || loadingNewer.value || loadingInitial.value) return false
    const newest = newestId.value
    if (requestedAfter.has(newest)) return false
    requestedAfter.add(newest)
    loadingNewer.value = true
    error.value = null
    try {
      const page = await api.messages(chatId, { after: newest, limit: pageSize })
      if (disposed) return true
      add(page.messages)
      hasNewer.value = page.has_more
    } catch (err) {
      requestedAfter.delete(newest)
      error.value = errorMessage(err)
    } finally {
      loadingNewer.value = false
    }
    return true
  }

  /**
   * Fetches everything after the newest loaded message (after a reconnect whose recovery
   * failed, or a first subscription). When the gap is huge the view starts over from the
   * newest page instead of loading thousands of messages.
   */
  function catchUp(maxPages = 5): Promise<void> {
    if (catchingUp) return catchingUp
    catchingUp = (async () => {
      try {
        // Opened at an older message: paging down reaches the newest ones.
        if (!loaded.value || hasNewer.value) return
        for (let i = 0; i < maxPages && !disposed; i++) {
          const newest = messages.value[messages.value.length - 1]
          const page = newest
            ? await api.messages(chatId, { after: newest.id, limit: 200 })
            : await api.messages(chatId, { limit: pageSize })
          if (disposed) return
          add(page.messages)
          if (!newest) hasMore.value = page.has_more
          if (!newest || !page.has_more) return
        }
        // Still more: too far behind to fill the gap page by page.
        forget()
        await loadInitial()
      } catch (err) {
        error.value = errorMessage(err)
      } finally {
        catchingUp = null
      }
    })()
    return catchingUp
  }

  /** Sends text, maybe as a reply; returns its client_id, or null for an empty text. */
  function send(text: string, replyTo: MessageRef | null = null): string | null {
    // A send shows at the end of the chat: back to the newest messages first.
    if (hasNewer.value) void jumpToLatest()
    return outbox.send(chatId, text, replyTo)
  }

  /** Sends a failed message again with the same client_id. */
  function retry(clientId: string): void {
    outbox.retry(clientId)
  }

  /** Gives up on a failed message. */
  function discard(clientId: string): void {
    outbox.discard(clientId)
  }

  function find(id: number): Message | undefined {
    return messages.value.find((m) => m.id === id)
  }

  /**
   * Loads older pages until message `id` is in (to show the original of a quote).
   * Resolves whether it is there.
   */
  async function ensureLoaded(id: number): Promise<boolean> {
    for (;;) {
      if (hasMessage(messages.value, id)) return true
      if (disposed || !loaded.value || !hasMore.value || deleted.has(id)) return false
      const oldest = messages.value[0]
      if (oldest && oldest.id < id) return false // inside what is loaded: gone
      const before = messages.value.length
      const asked = await loadOlder()
      // No request and nothing new: a page failed or cannot be asked for now.
      if (!asked && messages.value.length === before) return false
      if (error.value) return false
    }
  }

  /** The user edits their message: shown at once, the server's copy replaces it, a refusal rolls back. */
  async function edit(id: number, text: string): Promise<void> {
    const t = normalizeText(text)
    const old = find(id)
    if (!old || !t || t === old.text) return
    // The optimistic copy's edited_at is this device's clock; the server's answer replaces it.
    messages.value = applyEdit(messages.value, { ...old, text: t, edited_at: new Date().toISOString() })
    try {
      const res = await api.editMessage(chatId, id, t)
      if (!disposed) applyEdited(res.message)
    } catch (err) {
      const cur = find(id)
      // Roll back only our own optimistic text; a newer edit from elsewhere stays.
      if (cur && cur.text === t) messages.value = applyEdit(messages.value, old)
      throw err
    }
  }

  /** Deletes for everyone, or hides for the user only (forMe); rolled back on refusal. */
  async function remove(id: number, forMe: boolean): Promise<void> {
    const old = find(id)
    deleted.add(id)
    const before = messages.value
    messages.value = forMe ? removeMessage(before, id) : blankQuotesOf(removeMessage(before, id), id)
    try {
      await api.deleteMessage(chatId, id, forMe)
    } catch (err) {
      deleted.delete(id)
      if (old && !disposed) messages.value = mergeMessages(messages.value, [old])
      throw err
    }
  }

  /** Clears the user's own view of the chat; rolled back on refusal. */
  async function clearHistory(): Promise<void> {
    const before = messages.value
    const oldCleared = clearedUpTo
    clearedUpTo = Math.max(clearedUpTo, newestId.value)
    messages.value = []
    const hadMore = hasMore.value
    hasMore.value = false
    try {
      await api.clearHistory(chatId)
    } catch (err) {
      clearedUpTo = oldCleared
      hasMore.value = hadMore
      if (!disposed) messages.value = mergeMessages(before, messages.value)
      throw err
    }
  }

  /** A message.edited publication (or the answer to the user's edit): changed in place. */
  function applyEdited(msg: Message): void {
    if (msg.chat_id !== chatId || deleted.has(msg.id)) return
    messages.value = applyEdit(messages.value, msg)
  }

  /** A history.cleared publication (this user, maybe on another device): nothing up to throughId is shown. */
  function applyCleared(throughId: number): void {
    clearedUpTo = Math.max(clearedUpTo, throughId)
    const left = messages.value.filter((m) => m.id > throughId)
    if (left.length !== messages.value.length) messages.value = left
    // Everything older is cleared too: there is nothing more to page to.
    hasMore.value = false
  }

  /** A message.deleted publication: gone, and quotes of it say so. */
  function applyDeleted(id: number): void {
    deleted.add(id)
    messages.value = blankQuotesOf(removeMessage(messages.value, id), id)
  }

  function dispose(): void {
    disposed = true
  }

  const newestId = computed(() => messages.value[messages.value.length - 1]?.id ?? 0)

  return {
    messages,
    outgoing,
    hasMore,
    hasNewer,
    loaded,
    loadingInitial,
    loadingOlder,
    loadingNewer,
    error,
    newestId,
    loadInitial,
    loadOlder,
    loadNewer,
    loadAround,
    jumpTo,
    jumpToLatest,
    applyLive,
    catchUp,
    send,
    retry,
    discard,
    ensureLoaded,
    edit,
    remove,
    clearHistory,
    applyEdited,
    applyDeleted,
    applyCleared,
    dispose,
  }
}

export type ChatMessages = ReturnType<typeof useChatMessages>
