import { computed, ref, shallowRef } from 'vue'
import type { Api } from '../api/client'
import { errorMessage } from '../api/client'
import type { Message, User } from '../api/types'
import { mergeMessages } from '../lib/messages'
import { isServerCopy, newOutgoing, normalizeText, transition, type OutgoingMessage } from '../lib/outbox'

type MessagesApi = Pick<Api, 'messages' | 'sendMessage'>

/**
 * The message list of one open chat: history pages, live publications and the user's own
 * sends, merged by message id so that nothing is ever shown twice.
 *
 * - `messages`: the server's messages, ascending by id, unique.
 * - `outgoing`: the user's messages not yet accepted ("sending") or rejected ("failed");
 *   an accepted one leaves this list and its server copy joins `messages` — whichever of
 *   the send's answer and the realtime publication comes first.
 * - Paging up stops for good once a page says has_more=false; a page is never asked for
 *   twice, and never while another is loading.
 */
export interface ChatMessagesOptions {
  pageSize?: number
  /** The server accepted one of the user's messages (before or after its publication). */
  onAccepted?: (message: Message) => void
}

export function useChatMessages(api: MessagesApi, chatId: number, me: User, opts: ChatMessagesOptions = {}) {
  const pageSize = opts.pageSize ?? 50
  const messages = shallowRef<Message[]>([])
  const outgoing = ref<OutgoingMessage[]>([])
  const hasMore = ref(true)
  const loadingInitial = ref(false)
  const loadingOlder = ref(false)
  const loaded = ref(false)
  const error = ref<string | null>(null)
  /** `before` values already asked for: a guard against asking for a page twice. */
  const requestedBefore = new Set<number>()
  let catchingUp: Promise<void> | null = null
  let disposed = false

  function add(incoming: Message[]): void {
    const mine = incoming.filter((m) => m.author.id === me.id && m.client_id)
    if (mine.length && outgoing.value.length) {
      outgoing.value = outgoing.value.filter((o) => !mine.some((m) => isServerCopy(o, m, me.id)))
    }
    messages.value = mergeMessages(messages.value, incoming)
  }

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
  async function loadOlder(): Promise<boolean> {
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
    add([msg])
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
        if (!loaded.value) return
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
        messages.value = []
        requestedBefore.clear()
        hasMore.value = true
        loaded.value = false
        await loadInitial()
      } catch (err) {
        error.value = errorMessage(err)
      } finally {
        catchingUp = null
      }
    })()
    return catchingUp
  }

  async function deliver(clientId: string): Promise<void> {
    const o = outgoing.value.find((x) => x.clientId === clientId)
    if (!o) return
    try {
      const res = await api.sendMessage(chatId, o.text, o.clientId)
      update(clientId, { type: 'accepted', message: res.message })
      add([res.message])
      // "sent" is shown by the server copy now in `messages`.
      outgoing.value = outgoing.value.filter((x) => x.clientId !== clientId)
      opts.onAccepted?.(res.message)
    } catch (err) {
      update(clientId, { type: 'rejected', error: errorMessage(err) })
    }
  }

  function update(clientId: string, ev: Parameters<typeof transition>[1]): void {
    outgoing.value = outgoing.value.map((o) => (o.clientId === clientId ? transition(o, ev) : o))
  }

  /** Sends text; returns its client_id, or null for an empty text. */
  function send(text: string): string | null {
    const t = normalizeText(text)
    if (!t) return null
    const o = newOutgoing(chatId, t)
    outgoing.value = [...outgoing.value, o]
    void deliver(o.clientId)
    return o.clientId
  }

  /** Sends a failed message again with the same client_id. */
  function retry(clientId: string): void {
    const o = outgoing.value.find((x) => x.clientId === clientId)
    if (!o || o.status !== 'failed') return
    update(clientId, { type: 'retry' })
    void deliver(clientId)
  }

  /** Gives up on a failed message. */
  function discard(clientId: string): void {
    outgoing.value = outgoing.value.filter((o) => o.clientId !== clientId || o.status !== 'failed')
  }

  function dispose(): void {
    disposed = true
  }

  const newestId = computed(() => messages.value[messages.value.length - 1]?.id ?? 0)

  return {
    messages,
    outgoing,
    hasMore,
    loaded,
    loadingInitial,
    loadingOlder,
    error,
    newestId,
    loadInitial,
    loadOlder,
    applyLive,
    catchUp,
    send,
    retry,
    discard,
    dispose,
  }
}

export type ChatMessages = ReturnType<typeof useChatMessages>
