import { computed, onScopeDispose, ref, shallowReactive, shallowRef, watch } from 'vue'
import type { ChatSummary, User } from '../api/types'
import { parseChatSignal } from '../lib/publications'
import type { ChannelWatcher } from './useRealtime'
import type { PresenceStore } from './usePresence'
import type { Typing } from './useTyping'

/** At most this many chat channels are subscribed at once (the open chat, panels, rows in view). */
export const MAX_CHAT_CHANNELS = 30

export interface ChatSignalsDeps {
  realtime: { watchChannel: (channel: string, w: ChannelWatcher) => () => void }
  chatList: { byId: (id: number) => ChatSummary | undefined }
  me: User
  typing: Pick<Typing, 'typing' | 'stopped'>
  presence: Pick<PresenceStore, 'apply' | 'refresh'>
  /** The other member of a direct chat, when known. */
  peer: (chat: ChatSummary) => User | null
  /** Wait before following a change of the chats in view (scrolling passes many). */
  delayMs?: number
}

/**
 * Which chat channels the client listens to for typing and presence, which are only
 * published there (API 1.1). The personal channel stays the one source of messages and
 * chat changes; chat channels are subscribed only for chats on screen: the open chat,
 * a chat a side panel shows, and the chat list's rows in view — never the whole list,
 * whatever its length, so a user in hundreds of chats costs a few subscriptions.
 *
 * After each (re)subscription of a chat whose presence is shown (open, or held by a
 * panel), the other member's profile is read again: presence is ephemeral, so what
 * changed while the client was not subscribed is not replayed.
 */
export function useChatSignals(deps: ChatSignalsDeps) {
  const open = ref<number | null>(null)
  const visible = shallowRef<number[]>([])
  const held = ref(new Map<number, number>())
  const watching = new Map<number, { channel: string; release: () => void }>()
  /** Chats whose channel is subscribed right now (signals from them arrive). */
  const live = shallowReactive(new Set<number>())
  let timer: ReturnType<typeof setTimeout> | null = null

  /** The chats to listen to, most important first, at most MAX_CHAT_CHANNELS. */
  const wanted = computed(() => {
    const ids: number[] = []
    const add = (id: number | null) => {
      if (id !== null && !ids.includes(id) && ids.length < MAX_CHAT_CHANNELS) ids.push(id)
    }
    add(open.value)
    for (const id of held.value.keys()) add(id)
    for (const id of visible.value) add(id)
    return ids
  })
  /** The same, as the channels they are on: a chat not known yet waits until it is. */
  const wantedChannels = computed(() => wanted.value.map((id) => `${id}=${deps.chatList.byId(id)?.channel ?? ''}`).join(','))

  function shown(chatId: number): boolean {
    return open.value === chatId || held.value.has(chatId)
  }

  function onSignal(chatId: number, data: unknown): void {
    const s = parseChatSignal(data)
    if (!s) return
    if (s.type === 'typing') {
      // The server publishes the sender's own typing too: other devices of the same user would show it.
      if (s.user.id !== deps.me.id && s.chat_id === chatId) deps.typing.typing(chatId, s.user)
    } else {
      deps.presence.apply(s)
    }
  }

  function onSubscribed(chatId: number): void {
    if (watching.has(chatId)) live.add(chatId)
    if (!shown(chatId)) return
    const chat = deps.chatList.byId(chatId)
    const p = chat ? deps.peer(chat) : null
    if (p) void deps.presence.refresh(p.id).catch(() => {})
  }

  function reconcile(): void {
    const want = new Map<number, string>()
    for (const id of wanted.value) {
      const ch = deps.chatList.byId(id)?.channel
      if (ch) want.set(id, ch)
    }
    for (const [id, w] of watching) {
      if (want.get(id) === w.channel) continue
      w.release()
      watching.delete(id)
      live.delete(id)
    }
    for (const [id, channel] of want) {
      if (watching.has(id)) continue
      const release = deps.realtime.watchChannel(channel, {
        onPublication: (data) => onSignal(id, data),
        onSubscribed: () => onSubscribed(id),
      })
      watching.set(id, { channel, release })
    }
  }

  function schedule(): void {
    if (timer) return
    timer = setTimeout(() => {
      timer = null
      reconcile()
    }, deps.delayMs ?? 200)
  }

  // The open chat at once (its typing should show from the start); the rest when the list settles.
  watch(open, reconcile)
  watch(wantedChannels, schedule)

  onScopeDispose(() => {
    if (timer) clearTimeout(timer)
    for (const w of watching.values()) w.release()
    watching.clear()
    live.clear()
  })

  return {
    setOpen(chatId: number | null): void {
      open.value = chatId
    },
    setVisible(ids: number[]): void {
      visible.value = ids
    },
    /** A panel shows this chat (a profile with live presence): listen until the returned function is called. */
    hold(chatId: number): () => void {
      const m = new Map(held.value)
      m.set(chatId, (m.get(chatId) ?? 0) + 1)
      held.value = m
      let done = false
      return () => {
        if (done) return
        done = true
        const next = new Map(held.value)
        const n = (next.get(chatId) ?? 1) - 1
        if (n <= 0) next.delete(chatId)
        else next.set(chatId, n)
        held.value = next
      }
    },
    /** Whether typing and presence of this chat arrive now (its channel is subscribed). */
    isLive: (chatId: number): boolean => live.has(chatId),
    /** Chat ids with a channel watched now (for tests). */
    watched: () => Array.from(watching.keys()),
  }
}

export type ChatSignals = ReturnType<typeof useChatSignals>
