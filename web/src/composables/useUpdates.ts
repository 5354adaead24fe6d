import { onScopeDispose } from 'vue'
import type { Api } from '../api/client'
import type { Update } from '../api/types'
import type { ChatHub } from '../lib/hub'
import { UpdateStream, type Schedule } from '../lib/updateStream'
import type { ChatList } from './useChatList'
import { centrifugeFactory, useRealtime, type RealtimeClientFactory } from './useRealtime'

type UpdatesApi = Pick<Api, 'updates' | 'realtimeToken' | 'subscriptionToken'>

export interface UpdatesOptions {
  /** The user is no longer a member of this chat (it may be the open one). */
  onChatRemoved?: (chatId: number) => void
  /** Every update, after the chat list and the open pane took it (people: renames, roles, panels). */
  onUpdate?: (u: Update) => void
  factory?: RealtimeClientFactory
  gapWaitMs?: number
  schedule?: Schedule
}

/**
 * Wires the user's update stream: the personal channel's publications go into the
 * UpdateStream, and what it applies, in cursor order, goes to the chat list and — for
 * chat-scoped updates — to the open chat's pane through the hub, by chat id.
 */
export function useUpdates(
  api: UpdatesApi,
  chatList: Pick<ChatList, 'apply' | 'load' | 'reload'>,
  hub: ChatHub,
  opts: UpdatesOptions = {},
) {
  function apply(u: Update): void {
    if (u.type === 'unknown') return
    chatList.apply(u)
    if (u.type === 'message.created' || u.type === 'message.edited') hub.emit(u.message.chat_id, { kind: 'publication', pub: u })
    else if (u.type === 'message.deleted' || u.type === 'history.cleared' || u.type === 'member.updated') hub.emit(u.chat_id, { kind: 'publication', pub: u })
    else if (u.type === 'read.updated') hub.emit(u.chat_id, { kind: 'publication', pub: u })
    else if (u.type === 'chat.removed') opts.onChatRemoved?.(u.chat_id)
    opts.onUpdate?.(u)
  }

  const stream = new UpdateStream({
    fetch: (after) => api.updates(after),
    apply,
    // 410: the stream has already taken a fresh cursor; what is shown may have gaps.
    async reload() {
      hub.broadcast({ kind: 'resync', reason: 'stream-reset' })
      await chatList.reload()
    },
    gapWaitMs: opts.gapWaitMs,
    schedule: opts.schedule,
    onError: (err) => console.warn('update stream:', err),
  })

  const realtime = useRealtime(
    api,
    {
      onUpdate: (data) => stream.push(data),
      // Not a reload: the stream fetches what follows its cursor, and reloads only on 410.
      onCatchUp: () => void stream.catchUp(),
    },
    opts.factory ?? centrifugeFactory,
  )

  /**
   * The order matters (API.md): the cursor before the chat list, so that whatever happens
   * while the list loads comes through the stream; the subscription after it, whose first
   * "subscribed" asks GET /updates for what happened in between.
   */
  async function start(): Promise<void> {
    try {
      await stream.start()
    } catch (err) {
      // Without a cursor the first catch-up starts over (fresh cursor, then reload).
      console.warn('update stream:', err)
    }
    await chatList.load()
    await realtime.start()
  }

  onScopeDispose(() => stream.stop())

  return { realtime, stream, start }
}
