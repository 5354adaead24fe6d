import { computed, onScopeDispose, ref, shallowRef } from 'vue'
import type { Api } from '../api/client'
import { ApiError } from '../api/client'
import { errorMessage } from '../api/errors'
import type { ChatSummary, Message, Publication } from '../api/types'
import type { User } from '../api/types'
import {
  applyCleared, applyDeleted, applyEdited, applyMembersCount, applyMessage, applyRead, removeChat, totalUnread, upsertChats,
} from '../lib/chatList'

type ChatListApi = Pick<Api, 'listChats' | 'getChat'>

/**
 * The user's chats for the left column, kept current by the user's update stream: a
 * message moves its chat up and counts toward the badge, chat.added and chat.removed
 * change the list, member events change a chat's member count, and the user's own read
 * position (from any device) clears badges.
 *
 * One stream covers every chat, loaded or not: a message in a chat beyond the loaded
 * pages fetches that chat and puts it at the top with its unread count.
 */
export function useChatList(api: ChatListApi, me: User, pageSize = 50) {
  const chats = shallowRef<ChatSummary[]>([])
  const nextCursor = ref<string | null>(null)
  const loading = ref(false)
  const loaded = ref(false)
  const error = ref<string | null>(null)
  const refreshTimers = new Map<number, ReturnType<typeof setTimeout>>()
  /** Chats being fetched because a message came for one not in the list: the messages waiting for it. */
  const fetching = new Map<number, Message[]>()
  /** While a reload runs: the chats live updates changed or removed, which its page may predate. */
  let during: { changed: Set<number>; removed: Set<number> } | null = null
  let disposed = false

  const unreadTotal = computed(() => totalUnread(chats.value))

  function byId(id: number): ChatSummary | undefined {
    return chats.value.find((c) => c.id === id)
  }

  /** Loads the first page and merges it into the list. */
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

  /**
   * Starts the list over from its first page (the update stream was reset, so the list
   * may have missed anything). Chats that live updates changed while the page was on its
   * way keep their newer state; chats removed meanwhile stay removed.
   */
  async function reload(): Promise<void> {
    const mine = { changed: new Set<number>(), removed: new Set<number>() }
    during = mine
    loading.value = true
    error.value = null
    try {
      const page = await api.listChats(null, pageSize)
      if (disposed) return
      const fresh = page.chats.filter((c) => !mine.removed.has(c.id))
      const live = chats.value.filter((c) => mine.changed.has(c.id))
      chats.value = upsertChats(fresh, live)
      nextCursor.value = page.next_cursor
      loaded.value = true
    } catch (err) {
      error.value = errorMessage(err)
    } finally {
      if (during === mine) during = null
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

  /** Fetches one chat's summary (its exact unread count) soon. */
  function refreshChatSoon(id: number, delay = 300): void {
    if (refreshTimers.has(id)) return
    refreshTimers.set(
      id,
      setTimeout(async () => {
        refreshTimers.delete(id)
        try {
          const chat = await api.getChat(id)
          if (!disposed) chats.value = upsertChats(chats.value, [chat])
        } catch {
          // A later event or reload corrects it.
        }
      }, delay),
    )
  }

  /**
   * A message for a chat the list does not hold (beyond the loaded pages, or one whose
   * chat.added has not been applied): fetch the chat, insert it, then apply the messages
   * that came meanwhile. The summary may already count a message (its last_message is at
   * or past it), and applyMessage then changes nothing, so nothing is counted twice.
   */
  function fetchMissing(msg: Message): void {
    const waiting = fetching.get(msg.chat_id)
    if (waiting) {
      waiting.push(msg)
      return
    }
    const id = msg.chat_id
    fetching.set(id, [msg])
    void (async () => {
      for (let attempt = 0; attempt < 4 && !disposed; attempt++) {
        try {
          const chat = await api.getChat(id)
          if (disposed) return
          const msgs = (fetching.get(id) ?? []).sort((a, b) => a.id - b.id)
          fetching.delete(id)
          let list = upsertChats(chats.value, [chat])
          for (const m of msgs) list = applyMessage(list, m, me.id) ?? list
          chats.value = list
          during?.changed.add(id)
          return
        } catch (err) {
          // Not (or no longer) a member: nothing to show.
          if (err instanceof ApiError && !err.transient) break
          await new Promise((r) => setTimeout(r, 500 * 2 ** attempt))
        }
      }
      fetching.delete(id)
    })()
  }

  function addChat(chat: ChatSummary): void {
    chats.value = upsertChats(chats.value, [chat])
  }

  function onMessage(msg: Message): void {
    const next = applyMessage(chats.value, msg, me.id)
    if (next === null) {
      fetchMissing(msg)
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

  /** Applies an update of the user's stream (or the answer to the user's own send). */
  function apply(pub: Publication): void {
    switch (pub.type) {
      case 'message.created':
        onMessage(pub.message)
        during?.changed.add(pub.message.chat_id)
        break
      case 'read.updated':
        if (pub.user_id === me.id) {
          onRead(pub.chat_id, pub.message_id)
          during?.changed.add(pub.chat_id)
        }
        break
      case 'chat.added':
        addChat(pub.chat)
        during?.changed.add(pub.chat.id)
        during?.removed.delete(pub.chat.id)
        break
      case 'chat.removed':
        chats.value = removeChat(chats.value, pub.chat_id)
        during?.changed.delete(pub.chat_id)
        during?.removed.add(pub.chat_id)
        break
      case 'member.added':
      case 'member.removed':
        chats.value = applyMembersCount(chats.value, pub.chat_id, pub.members_count)
        during?.changed.add(pub.chat_id)
        break
      case 'message.edited':
        chats.value = applyEdited(chats.value, pub.message)
        during?.changed.add(pub.message.chat_id)
        break
      case 'chat.updated':
        // A new title: the summary's other fields stay as the list has them when newer.
        if (byId(pub.chat.id)) {
          chats.value = upsertChats(chats.value, [pub.chat])
          during?.changed.add(pub.chat.id)
        }
        break
      case 'history.cleared':
        chats.value = applyCleared(chats.value, pub.chat_id, pub.through_id)
        during?.changed.add(pub.chat_id)
        break
      case 'message.deleted': {
        const r = applyDeleted(chats.value, pub.chat_id, pub.message_id)
        chats.value = r.list
        if (r.needsRefresh) refreshChatSoon(pub.chat_id)
        during?.changed.add(pub.chat_id)
        break
      }
    }
  }

  /** The user cleared a chat's history (optimistic; a failure puts the old summary back). */
  function cleared(chatId: number): void {
    chats.value = applyCleared(chats.value, chatId)
  }

  onScopeDispose(() => {
    disposed = true
    for (const t of refreshTimers.values()) clearTimeout(t)
  })

  return {
    chats,
    unreadTotal,
    nextCursor,
    loading,
    loaded,
    error,
    byId,
    load,
    reload,
    loadMore,
    addChat,
    apply,
    onRead,
    cleared,
  }
}

export type ChatList = ReturnType<typeof useChatList>
