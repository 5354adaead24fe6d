import { inject, provide, type InjectionKey, type Ref } from 'vue'
import type { Api } from '../api/client'
import type { Message, User } from '../api/types'
import type { Drafts } from '../lib/drafts'
import type { ChatHub } from '../lib/hub'
import type { ChatList } from './useChatList'
import type { Outbox } from './useOutbox'
import type { ConnectionState } from './useRealtime'

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
