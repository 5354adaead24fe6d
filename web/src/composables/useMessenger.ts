import { inject, provide, type InjectionKey, type Ref } from 'vue'
import type { Api } from '../api/client'
import type { Message, User } from '../api/types'
import type { Drafts } from '../lib/drafts'
import type { ChatHub } from '../lib/hub'
import type { ChatList } from './useChatList'
import type { ChatSignals } from './useChatSignals'
import type { Outbox } from './useOutbox'
import type { PresenceStore } from './usePresence'
import type { ConnectionState } from './useRealtime'
import type { Typing } from './useTyping'

/** A message to show, asked for from outside its chat's pane (a search result). */
export interface JumpRequest {
  chatId: number
  messageId: number
  /** Tells two requests for the same message apart (the second click scrolls to it again). */
  seq: number
}

/** What the messenger screen shares with the panes under it. */
export interface MessengerContext {
  api: Api
  me: User
  chatList: ChatList
  hub: ChatHub
  connection: Ref<ConnectionState>
  /** The user's unsent messages, of every chat (they outlive the pane). */
  outbox: Outbox
  /** What the user was writing in each chat. */
  drafts: Drafts
  openNewChat: () => void
  /** Opens the chat picker to forward a message (API 1.1). */
  forward: (message: Message) => void
  /** Who is typing where (API 1.1). */
  typing: Typing
  /** Who is online, and when others were last seen (API 1.1). */
  presence: PresenceStore
  /** Which chat channels are listened to for typing and presence. */
  signals: ChatSignals
  /** The message the pane of its chat should show; the pane handles each request once. */
  jump: Ref<JumpRequest | null>
  /** Starts a message search in one chat (the header's search button). */
  searchInChat: (chatId: number) => void
}

const KEY: InjectionKey<MessengerContext> = Symbol('messenger')

export function provideMessenger(ctx: MessengerContext): void {
  provide(KEY, ctx)
}

export function useMessenger(): MessengerContext {
  const ctx = inject(KEY, null)
  if (!ctx) throw new Error('useMessenger outside the messenger view')
  return ctx
}
