// Wire types of the HTTP and realtime API, version 1 (docs/API.md).
// Ids are JSON integers below 2^53, so plain numbers are exact.
//
// The server declares the same shapes in shared/apijson, with a golden JSON file for
// each in shared/apijson/testdata; tests/wire.test.ts checks these types against them,
// so a field renamed on either side fails a test. Times are strings: RFC 3339 in UTC
// with milliseconds.

export interface User {
  id: number
  name: string
  /** 1.1: the user's picture (GET /avatars/{key}, no token needed), or null. */
  avatar_url?: string | null
}

/** 1.1 "People": GET /users/{id}, PATCH /me. */
export interface Profile extends User {
  about: string
  last_seen_at: string | null
  online: boolean
}

/** 1.1 "People": PATCH /me/privacy. */
export interface Privacy {
  last_seen: 'everyone' | 'nobody'
  direct_messages: 'everyone' | 'nobody'
}

export interface Message {
  id: number
  chat_id: number
  author: User
  text: string
  sent_at: string
  client_id: string
  reply_to_id: number | null
  // Version 1.1, "the message life-cycle". Optional so that a server of version 1 (and
  // the optimistic copies the client builds) still type-check; a 1.1 server always sends them.
  /** When the text was last edited; null if never. */
  edited_at?: string | null
  /** The replied message as it is now (resolved when read); null when not a reply. */
  reply_to?: MessageRef | null
  forwarded_from?: ForwardedFrom | null
}

/** A replied message: its id, author and first 200 code points; text "" once it was deleted. */
export interface MessageRef {
  id: number
  author: User
  text: string
}

/** Where a forwarded message came from; chat_id is null when the caller is not a member of that chat. */
export interface ForwardedFrom {
  message_id: number
  chat_id: number | null
  author: User
  sent_at: string
}

export type ChatKind = 'direct' | 'group'

export interface ChatSummary {
  id: number
  kind: ChatKind
  title: string
  channel: string
  members_count: number
  last_message: Message | null
  unread_count: number
  read_message_id: number
  updated_at: string
  /** Reserved in 1.1: always null. */
  muted_until?: string | null
}

export type MemberRole = 'admin' | 'moderator' | 'member' | 'muted'

export interface Member {
  user: User
  role: MemberRole
}

export interface Chat extends ChatSummary {
  created_at: string
  members: Member[]
}

export interface AuthResult {
  user: User
  token: string
}

export interface UserList {
  users: User[]
}

export interface ChatPage {
  chats: ChatSummary[]
  next_cursor: string | null
}

export interface MessagePage {
  messages: Message[]
  has_more: boolean
}

/** The answer to a send (202), and to a retry of it with the same client_id. */
export interface SendResult {
  message: Message
}

export interface RealtimeToken {
  url: string
  token: string
  expires_at: string
  personal_channel: string
}

export interface SubscriptionToken {
  token: string
}

/** The body of every non-2xx answer. */
export interface ErrorBody {
  error: { code: string; message: string }
}

/**
 * Publications on a chat channel and on the personal channel (API.md "Realtime" and
 * "Per-user updates (1.1)"). On the personal channel, and in GET /updates, each one
 * carries the user's update `cursor`; chat channels publish without it.
 */
export type Publication = (
  | { type: 'message.created'; message: Message }
  | { type: 'read.updated'; chat_id: number; user_id: number; message_id: number }
  | { type: 'chat.added'; chat: ChatSummary }
  | { type: 'chat.removed'; chat_id: number }
  | { type: 'member.added'; chat_id: number; member: Member; members_count: number }
  | { type: 'member.removed'; chat_id: number; user_id: number; members_count: number }
  // 1.1: on the chat channel and in every member's stream; a delete "for me" only in the
  // caller's own stream (their other devices).
  | { type: 'message.edited'; message: Message }
  | { type: 'message.deleted'; chat_id: number; message_id: number }
  // The user cleared a chat's history (on another device too): nothing up to through_id is shown.
  | { type: 'history.cleared'; chat_id: number; through_id: number }
  // 1.1 "Chats and roles": a member's new role; a chat's new title (its summary).
  | { type: 'member.updated'; chat_id: number; user: User; role: MemberRole }
  | { type: 'chat.updated'; chat: ChatSummary }
  // 1.1 "Typing and presence": ephemeral, on chat channels only (never with a cursor).
  // A member typing (at most every 3 s each); a direct chat partner's presence.
  | { type: 'typing'; chat_id: number; user: User }
  | { type: 'presence.updated'; user_id: number; online: boolean; last_seen_at: string | null }
) & { cursor?: string }

/**
 * One update of the user's stream: a publication this client knows, or one it does not
 * (a later 1.1 event, or a body it cannot read) that it skips but must still move its
 * cursor past (API.md).
 */
export type Update = (Publication & { cursor: string }) | { type: 'unknown'; cursor: string }

/**
 * Ephemeral signals on a chat's channel (API 1.1 "Typing and presence"): never in the
 * log nor in the update stream, so a client hears them only while it subscribes to that
 * chat's channel.
 */
export type ChatSignal = Extract<Publication, { type: 'typing' | 'presence.updated' }>

/** GET /search/messages (API 1.1 "Search"): newest first; next_cursor null at the end. */
export interface SearchPage {
  messages: Message[]
  next_cursor: string | null
}

/** GET /updates: the user's updates after a cursor, oldest first (raw; see parseUpdate). */
export interface UpdatesPage {
  updates: unknown[]
  cursor: string
  has_more: boolean
}
