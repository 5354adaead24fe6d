import { onScopeDispose, shallowRef } from 'vue'
import { ApiError } from '../api/client'
import type { Api } from '../api/client'
import { errorMessage } from '../api/errors'
import type { Message, MessageRef, User } from '../api/types'
import { readJson, userKey, writeJson, type KeyValueStorage } from '../lib/localStore'
import {
  isServerCopy, newOutgoing, normalizeText, restore, transition,
  type OutgoingMessage, type SendEvent,
} from '../lib/outbox'

type OutboxApi = Pick<Api, 'sendMessage' | 'forwardMessage'>

export interface OutboxOptions {
  /** Where unsent messages survive a reload (null: nowhere). */
  storage?: KeyValueStorage | null
}

type AcceptedListener = (message: Message) => void

function safeParse(s: string): unknown {
  try {
    return JSON.parse(s)
  } catch {
    return null
  }
}

/**
 * The user's unsent messages, of every chat: one home for them above the chat panes, so
 * that a failed message stays (with its text) when the user opens another chat and comes
 * back, and — kept in localStorage per user — when the page reloads.
 *
 * Each one keeps its client_id for life: it is the server's idempotency key, so sending
 * it again after a failure, a lost answer or a reload never stores it twice. Failures
 * that may go away by themselves (no answer, 429, 5xx) are sent again by retryAll(),
 * which the messenger calls when the connection comes back.
 *
 * A message leaves the outbox once the server has it: by the answer to its send, or
 * earlier, when its server copy reaches the open chat (settle).
 */
export function useOutbox(api: OutboxApi, me: User, opts: OutboxOptions = {}) {
  const storage = opts.storage ?? null
  const key = userKey('outbox', me.id)
  const items = shallowRef<OutgoingMessage[]>(restore(readJson(storage, key)))
  const listeners = new Set<AcceptedListener>()

  function set(next: OutgoingMessage[]): void {
    items.value = next
    writeJson(storage, key, next)
  }

  function update(clientId: string, ev: SendEvent): void {
    set(items.value.map((o) => (o.clientId === clientId ? transition(o, ev) : o)))
  }

  async function deliver(clientId: string): Promise<void> {
    const o = items.value.find((x) => x.clientId === clientId)
    if (!o) return
    try {
      const res = o.forward
        ? await api.forwardMessage(o.chatId, o.clientId, { chat_id: o.forward.chat_id, message_id: o.forward.message_id })
        : await api.sendMessage(o.chatId, o.text, o.clientId, o.replyTo?.id ?? null)
      // Listeners first (the open chat adds the server copy), then the unsent copy goes:
      // both in one tick, so the pane never shows the message twice or not at all.
      for (const fn of Array.from(listeners)) fn(res.message)
      set(items.value.filter((x) => x.clientId !== clientId))
    } catch (err) {
      const retryable = !(err instanceof ApiError) || err.transient
      update(clientId, { type: 'rejected', error: errorMessage(err, o.forward ? 'forward' : 'send'), retryable })
    }
  }

  /** Sends a text to a chat; returns its client_id, or null for an empty text. */
  function send(chatId: number, text: string, replyTo: MessageRef | null = null): string | null {
    const t = normalizeText(text)
    if (!t) return null
    const o = newOutgoing(chatId, t, undefined, new Date(), { replyTo })
    set([...items.value, o])
    void deliver(o.clientId)
    return o.clientId
  }

  /** Forwards a message to a chat (API 1.1): shown with its text until the server has it. */
  function forward(chatId: number, source: Message): string {
    const o = newOutgoing(chatId, source.text, undefined, new Date(), {
      forward: {
        chat_id: source.chat_id,
        message_id: source.id,
        // Forwarding a forwarded message keeps the original's author (API.md).
        author: source.forwarded_from?.author ?? source.author,
        sent_at: source.forwarded_from?.sent_at ?? source.sent_at,
      },
    })
    set([...items.value, o])
    void deliver(o.clientId)
    return o.clientId
  }

  /** Sends a failed message again, with the same client_id. */
  function retry(clientId: string): void {
    const o = items.value.find((x) => x.clientId === clientId)
    if (!o || o.status !== 'failed') return
    update(clientId, { type: 'retry' })
    void deliver(clientId)
  }

  /** The connection is back: every failure that may have been the network's goes again. */
  function retryAll(): number {
    const due = items.value.filter((o) => o.status === 'failed' && o.retryable)
    for (const o of due) retry(o.clientId)
    return due.length
  }

  /** Gives up on a failed message. */
  function discard(clientId: string): void {
    set(items.value.filter((o) => o.clientId !== clientId || o.status !== 'failed'))
  }

  /** Server messages reached a chat: their unsent copies are done. */
  function settle(incoming: readonly Message[]): void {
    const mine = incoming.filter((m) => m.author.id === me.id && m.client_id)
    if (!mine.length || !items.value.length) return
    const left = items.value.filter((o) => !mine.some((m) => isServerCopy(o, m, me.id)))
    if (left.length !== items.value.length) set(left)
  }

  /**
   * Another tab of the same user wrote its outbox. Each tab writes the whole list, so
   * without this a tab would drop from storage what another one added (a failure a reload
   * should still show). The other tab's list is taken, with what this tab is sending right
   * now kept as it is here; it is not written back (the tabs would echo each other). Both
   * tabs may then send the same message: its client_id keeps it one message.
   */
  function adopt(raw: unknown): void {
    const theirs = restore(raw, { inFlight: 'keep' })
    const mine = new Map(items.value.filter((o) => o.status === 'sending').map((o) => [o.clientId, o]))
    const next = theirs.map((o) => mine.get(o.clientId) ?? o)
    for (const o of mine.values()) if (!theirs.some((t) => t.clientId === o.clientId)) next.push(o)
    items.value = next
  }
  const onStorage = (e: StorageEvent) => {
    if (e.key === key) adopt(e.newValue ? safeParse(e.newValue) : [])
  }
  if (storage && typeof window !== 'undefined') {
    window.addEventListener('storage', onStorage)
    onScopeDispose(() => window.removeEventListener('storage', onStorage))
  }

  function forChat(chatId: number): OutgoingMessage[] {
    return items.value.filter((o) => o.chatId === chatId)
  }

  /** Called with the server's copy of each accepted send; returns the unsubscribe. */
  function onAccepted(fn: AcceptedListener): () => void {
    listeners.add(fn)
    return () => listeners.delete(fn)
  }

  /** Signing out on purpose: nothing of this user stays on the device. */
  function clear(): void {
    set([])
  }

  return { items, send, forward, retry, retryAll, discard, settle, forChat, onAccepted, clear, adopt }
}

export type Outbox = ReturnType<typeof useOutbox>
