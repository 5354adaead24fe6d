import type { Message, MessageRef, User } from '../api/types'

/**
 * The life of a message the user sends, before and after the server has it.
 *
 *   sending --accepted--> sent      (the server's copy replaces the optimistic one)
 *   sending --rejected--> failed    (shown with a retry button)
 *   failed  --retry-----> sending   (same client_id: the server's idempotency key, so a
 *                                    retry after a lost answer never stores it twice)
 *   failed  --accepted--> sent      (the server copy came anyway, e.g. by realtime after
 *                                    the answer to the send was lost)
 *
 * Anything else is a no-op: a late failure cannot undo "sent", and a second retry while
 * one is in flight does not send twice.
 *
 * A failure is `retryable` when the same request may succeed later unchanged (no answer
 * at all, 429, 5xx): those are sent again by themselves when the connection comes back.
 * Others (403 muted, 400) wait for the user.
 */
export type SendStatus = 'sending' | 'sent' | 'failed'

export interface OutgoingMessage {
  clientId: string
  chatId: number
  text: string
  status: SendStatus
  error: string | null
  attempts: number
  createdAt: string
  /** The server's copy, once accepted. */
  message: Message | null
  /** Whether a failure may go away by itself (see above). */
  retryable: boolean
  /** The message replied to, shown as a quote while unsent. */
  replyTo: MessageRef | null
  /** A forward (API 1.1): the source message; `text` is its text, shown while unsent. */
  forward: { chat_id: number; message_id: number; author: User; sent_at: string } | null
}

export type SendEvent =
  | { type: 'accepted'; message: Message }
  | { type: 'rejected'; error: string; retryable?: boolean }
  | { type: 'retry' }

export function newOutgoing(
  chatId: number,
  text: string,
  clientId = newClientId(),
  now = new Date(),
  extra: Partial<Pick<OutgoingMessage, 'replyTo' | 'forward'>> = {},
): OutgoingMessage {
  return {
    clientId,
    chatId,
    text,
    status: 'sending',
    error: null,
    attempts: 1,
    createdAt: now.toISOString(),
    message: null,
    retryable: false,
    replyTo: extra.replyTo ?? null,
    forward: extra.forward ?? null,
  }
}

export function transition(m: OutgoingMessage, ev: SendEvent): OutgoingMessage {
  switch (ev.type) {
    case 'accepted':
      if (m.status === 'sent') return m
      return { ...m, status: 'sent', error: null, message: ev.message }
    case 'rejected':
      if (m.status !== 'sending') return m
      return { ...m, status: 'failed', error: ev.error, retryable: ev.retryable ?? false }
    case 'retry':
      if (m.status !== 'failed') return m
      return { ...m, status: 'sending', error: null, attempts: m.attempts + 1 }
  }
}

/**
 * Reads back what restore() was given to keep (localStorage, after a reload): well-formed
 * unsent messages only. One that was on its way has had no answer this page will ever
 * see; it becomes a failure to retry — with its client_id, so a send that did arrive
 * is not stored twice.
 */
export function restore(raw: unknown, { inFlight = 'failed' }: { inFlight?: 'failed' | 'keep' } = {}): OutgoingMessage[] {
  if (!Array.isArray(raw)) return []
  const out: OutgoingMessage[] = []
  for (const v of raw) {
    if (typeof v !== 'object' || v === null) continue
    const o = v as Partial<OutgoingMessage>
    if (typeof o.clientId !== 'string' || typeof o.chatId !== 'number' || typeof o.text !== 'string') continue
    if (o.status !== 'sending' && o.status !== 'failed') continue
    out.push({
      clientId: o.clientId,
      chatId: o.chatId,
      text: o.text,
      // 'keep': another open tab's list, where a send on its way is still on its way.
      status: inFlight === 'keep' ? o.status : 'failed',
      error: o.status === 'failed' ? (o.error ?? null) : null,
      attempts: typeof o.attempts === 'number' ? o.attempts : 1,
      createdAt: typeof o.createdAt === 'string' ? o.createdAt : new Date().toISOString(),
      message: null,
      retryable: o.status === 'sending' ? true : !!o.retryable,
      replyTo: o.replyTo ?? null,
      forward: o.forward ?? null,
    })
  }
  return out
}

/** Whether a server message is the server's copy of this outgoing one. */
export function isServerCopy(m: OutgoingMessage, msg: Message, myId: number): boolean {
  return msg.client_id === m.clientId && msg.author.id === myId && msg.chat_id === m.chatId
}

/** A client_id: 1..64 of [A-Za-z0-9_-]; a UUID fits. */
export function newClientId(): string {
  const c = globalThis.crypto
  if (c && typeof c.randomUUID === 'function') return c.randomUUID()
  const bytes = new Uint8Array(16)
  if (c && typeof c.getRandomValues === 'function') c.getRandomValues(bytes)
  else for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256)
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')
}

/** The text as the server will store it: outer whitespace trimmed. */
export function normalizeText(text: string): string {
  return text.trim()
}

export const MAX_TEXT_CODE_POINTS = 4096

/** Length in Unicode code points, as the API counts it. */
export function codePointLength(text: string): number {
  let n = 0
  for (const _ of text) n++
  return n
}
