import type { ChatSummary, Message, User } from '../src/api/types'

export const alice: User = { id: 1, name: 'alice' }
export const bob: User = { id: 2, name: 'bob' }

let clock = Date.parse('2026-11-27T10:00:00.000Z')

export function msg(id: number, author: User = bob, over: Partial<Message> = {}): Message {
  return {
    id,
    chat_id: 42,
    author,
    text: `message ${id}`,
    sent_at: new Date(clock + id * 1000).toISOString(),
    client_id: `c${id}`,
    reply_to_id: null,
    ...over,
  }
}

export function msgs(from: number, to: number, author: User = bob): Message[] {
  const out: Message[] = []
  for (let i = from; i <= to; i++) out.push(msg(i, author))
  return out
}

export function chat(id: number, over: Partial<ChatSummary> = {}): ChatSummary {
  return {
    id,
    kind: 'direct',
    title: `chat ${id}`,
    channel: `chat:${id}`,
    members_count: 2,
    last_message: null,
    unread_count: 0,
    read_message_id: 0,
    updated_at: new Date(clock + id * 60_000).toISOString(),
    ...over,
  }
}

export function setClock(iso: string) {
  clock = Date.parse(iso)
}
