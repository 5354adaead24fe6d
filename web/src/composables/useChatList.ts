import { computed, onScopeDispose, ref, shallowRef } from 'vue'
import type { Api } from '../api/client'
import { errorMessage } from '../api/client'
import type { ChatSummary, Message, Publication, User } from '../api/types'
import { applyMessage, applyRead, removeChat, totalUnread, upsertChats } from '../lib/chatList'

type ChatListApi = Pick<Api, 'listChats' | 'getChat'>

/**
 * The user's chats for the left column, kept current by realtime publications:
 * a message moves its chat up and counts toward the badge, chat.added and chat.removed
 * change the list, and the user's own read position (from any device) clears badges.
 */
// 50 per page: every loaded chat gets a realtime subscription, and each needs a token
// request, so the list grows as the user scrolls rather than all at once.
export function useChatList(api: ChatListApi, me: User, pageSize = 50) {
  const chats = shallowRef<ChatSummary[]>([])
  const nextCursor = ref<string | null>(null)
  const loading = ref(false)
  const loaded = ref(false)
  const error = ref<string | null>(null)
  let reloadTimer: ReturnType<typeof setTimeout> | null = null
  const refreshTimers = new Map<number, ReturnType<typeof setTimeout>>()

  const channels = computed(() => chats.value.map((c) => c.channel))
  const unreadTotal = computed(() => totalUnread(chats.value))

  function byId(id: number): ChatSummary | undefined {
    return chats.value.find((c) => c.id === id)
  }

  function byChannel(channel: string): ChatSummary | undefined {
    return chats.value.find((c) => c.channel === channel)
  }

  async function load(): Promise<void> {
    loading.value = true
    error.value = null
    try {
      const page = await api.listChats(null, pageSize)
      chats.value = upsertChats(chats.value, page.chats)
      if (!loaded.value) nextCursor.value = page.next_cursor
      loaded.value = true
    } catch (err) {
      error.value = errorMessage(err)
    } finally {
      loading.value = false
    }
  }

  async function loadMore(): Promise<void> {
    if (loading.value || !nextCursor.value) return
    loading.value = true
    try {
      const page = await api.listChats(nextCursor.value, pageSize)
      chats.value = upsertChats(chats.value, page.chats)
      nextCursor.value = page.next_cursor
    } catch (err) {
      error.value = errorMessage(err)
    } finally {
      loading.value = false
    }
  }

  /** Reloads the first page soon; many calls in a burst (a reconnect resubscribing every chat) make one request. */
  function reloadSoon(delay = 300): void {
    if (reloadTimer) return
    reloadTimer = setTimeout(() => {
      reloadTimer = null
      void load()
    }, delay)
  }

  /** Fetches one chat's summary (its exact unread count) soon. */
  function refreshChatSoon(id: number, delay = 300): void {
    if (refreshTimers.has(id)) return
    refreshTimers.set(
      id,
      setTimeout(async () => {
        refreshTimers.delete(id)
        try {
          const chat = await api.getChat(id)
          chats.value = upsertChats(chats.value, [chat])
        } catch {
          // A later event or reload corrects it.
        }
      }, delay),
    )
  }

  function addChat(chat: ChatSummary): void {
    chats.value = upsertChats(chats.value, [chat])
  }

  function onMessage(msg: Message): void {
    const next = applyMessage(chats.value, msg, me.id)
    if (next === null) {
      // A chat we do not have yet (the publication beat chat.added, or it is beyond the loaded pages).
      refreshChatSoon(msg.chat_id, 0)
      return
    }
    chats.value = next
  }

  /** The user's read position moved (here or on another device). */
  function onRead(chatId: number, messageId: number, unreadAfter?: number): void {
    const r = applyRead(chats.value, chatId, messageId, unreadAfter)
    chats.value = r.list
    if (r.needsRefresh) refreshChatSoon(chatId)
  }

  /** Applies a publication from a chat channel or the personal channel. */
  function apply(pub: Publication): void {
    switch (pub.type) {
      case 'message.created':
        onMessage(pub.message)
        break
      case 'read.updated':
        if (pub.user_id === me.id) onRead(pub.chat_id, pub.message_id)
        break
      case 'chat.added':
        addChat(pub.chat)
        break
      case 'chat.removed':
        chats.value = removeChat(chats.value, pub.chat_id)
        break
    }
  }

  onScopeDispose(() => {
    if (reloadTimer) clearTimeout(reloadTimer)
    for (const t of refreshTimers.values()) clearTimeout(t)
  })

  return {
    chats,
    channels,
    unreadTotal,
    nextCursor,
    loading,
    loaded,
    error,
    byId,
    byChannel,
    load,
    loadMore,
    reloadSoon,
    addChat,
    apply,
    onRead,
  }
}

export type ChatList = ReturnType<typeof useChatList>
