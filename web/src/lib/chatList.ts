import type { ChatSummary, Message } from '../api/types'

/** Most recent activity first (updated_at desc, then id desc), as GET /chats orders them. */
export function compareChats(a: ChatSummary, b: ChatSummary): number {
  const ta = Date.parse(a.updated_at)
  const tb = Date.parse(b.updated_at)
  if (ta !== tb) return tb - ta
  return b.id - a.id
}

export function sortChats(list: ChatSummary[]): ChatSummary[] {
  return list.slice().sort(compareChats)
}

const lastId = (c: ChatSummary) => c.last_message?.id ?? 0

/**
 * Puts fresh summaries (from a page, a chat.added publication, a created chat) into the
 * list. A summary older than the one held — its last message is older, which happens
 * when a reload raced a live message — does not replace it.
 */
export function upsertChats(list: readonly ChatSummary[], incoming: readonly ChatSummary[]): ChatSummary[] {
  if (incoming.length === 0) return list as ChatSummary[]
  const byId = new Map<number, ChatSummary>()
  for (const c of list) byId.set(c.id, c)
  for (const c of incoming) {
    const old = byId.get(c.id)
    if (old && lastId(old) > lastId(c)) {
      // Keep the newer message but take the other fields (title, members) from the fresh copy.
      byId.set(c.id, {
        ...c,
        last_message: old.last_message,
        updated_at: old.updated_at,
        unread_count: old.unread_count,
        read_message_id: Math.max(old.read_message_id, c.read_message_id),
      })
    } else {
      const summary = toSummary(c)
      if (old && old.read_message_id > c.read_message_id) {
        // The list is served from a cache that may lag behind a read we already made:
        // the newer position wins, and with the same last message so does its count.
        summary.read_message_id = old.read_message_id
        if (lastId(old) === lastId(c)) summary.unread_count = old.unread_count
      }
      byId.set(c.id, summary)
    }
  }
  return sortChats(Array.from(byId.values()))
}

/** Drops the fields of a full Chat that a summary does not have. */
function toSummary(c: ChatSummary): ChatSummary {
  return {
    id: c.id,
    kind: c.kind,
    title: c.title,
    channel: c.channel,
    members_count: c.members_count,
    last_message: c.last_message,
    unread_count: c.unread_count,
    read_message_id: c.read_message_id,
    updated_at: c.updated_at,
  }
}

/**
 * A new message in one of the chats: it becomes the preview, the chat moves up, and
 * the badge grows if someone else wrote it. A message at or below the preview's id was
 * already counted (duplicate publication, or a reload that saw it) and changes nothing.
 * Returns the same array when nothing changed, and null when the chat is not in the list.
 */
export function applyMessage(list: readonly ChatSummary[], msg: Message, myId: number): ChatSummary[] | null {
  const i = list.findIndex((c) => c.id === msg.chat_id)
  if (i < 0) return null
  const c = list[i]
  if (msg.id <= lastId(c)) return list as ChatSummary[]
  const own = msg.author.id === myId
  const next: ChatSummary = {
    ...c,
    last_message: msg,
    updated_at: msg.sent_at,
    // Sending moves the sender's read position to the new message (API.md).
    read_message_id: own ? Math.max(c.read_message_id, msg.id) : c.read_message_id,
    unread_count: own ? 0 : msg.id > c.read_message_id ? c.unread_count + 1 : c.unread_count,
  }
  const out = list.slice()
  out[i] = next
  return sortChats(out)
}

/**
 * The user's read position in a chat moved to messageId. When the count of what is
 * still unread is known (the open chat has every message after the position loaded)
 * it is passed in; when the position reaches the last message it is 0; otherwise the
 * result says the count must be fetched.
 */
export function applyRead(
  list: readonly ChatSummary[],
  chatId: number,
  messageId: number,
  unreadAfter?: number,
): { list: ChatSummary[]; needsRefresh: boolean } {
  const i = list.findIndex((c) => c.id === chatId)
  if (i < 0) return { list: list as ChatSummary[], needsRefresh: false }
  const c = list[i]
  if (messageId < c.read_message_id) return { list: list as ChatSummary[], needsRefresh: false }
  if (messageId === c.read_message_id) {
    // Already there (the publication of this very move came first); an exact count still helps.
    if (unreadAfter === undefined || unreadAfter === c.unread_count) return { list: list as ChatSummary[], needsRefresh: false }
    const out = list.slice()
    out[i] = { ...c, unread_count: unreadAfter }
    return { list: out, needsRefresh: false }
  }
  let unread: number
  let needsRefresh = false
  if (messageId >= lastId(c)) unread = 0
  else if (unreadAfter !== undefined) unread = unreadAfter
  else {
    unread = c.unread_count
    needsRefresh = c.unread_count > 0
  }
  const out = list.slice()
  out[i] = { ...c, read_message_id: messageId, unread_count: unread }
  return { list: out, needsRefresh }
}

/** A member joined or left: the chat's member count as the server counted it. */
export function applyMembersCount(list: readonly ChatSummary[], chatId: number, membersCount: number): ChatSummary[] {
  const i = list.findIndex((c) => c.id === chatId)
  if (i < 0 || list[i].members_count === membersCount) return list as ChatSummary[]
  const out = list.slice()
  out[i] = { ...list[i], members_count: membersCount }
  return out
}

export function removeChat(list: readonly ChatSummary[], chatId: number): ChatSummary[] {
  const out = list.filter((c) => c.id !== chatId)
  return out.length === list.length ? (list as ChatSummary[]) : out
}

export function totalUnread(list: readonly ChatSummary[]): number {
  return list.reduce((n, c) => n + c.unread_count, 0)
}

/** A message was edited: when it is a chat's preview, the preview shows the new text. */
export function applyEdited(list: readonly ChatSummary[], msg: Message): ChatSummary[] {
  const i = list.findIndex((c) => c.id === msg.chat_id)
  if (i < 0 || list[i].last_message?.id !== msg.id) return list as ChatSummary[]
  const out = list.slice()
  out[i] = { ...list[i], last_message: msg }
  return out
}

/**
 * A message was deleted (for everyone, or for the user on another device). The list
 * cannot know what takes its place as the preview, nor whether it was counted as unread
 * (the event has no author): the preview goes blank at once when it was the deleted
 * message, and the chat's summary must be fetched again whenever either may have
 * changed. `updated_at`, and so the chat's place, stays (API.md).
 */
export function applyDeleted(
  list: readonly ChatSummary[],
  chatId: number,
  messageId: number,
): { list: ChatSummary[]; needsRefresh: boolean } {
  const i = list.findIndex((c) => c.id === chatId)
  if (i < 0) return { list: list as ChatSummary[], needsRefresh: false }
  const c = list[i]
  const wasPreview = c.last_message?.id === messageId
  const mayBeUnread = messageId > c.read_message_id && c.unread_count > 0
  if (!wasPreview) return { list: list as ChatSummary[], needsRefresh: mayBeUnread }
  const out = list.slice()
  out[i] = { ...c, last_message: null }
  return { list: out, needsRefresh: true }
}

/**
 * The user cleared the chat's history up to throughId (here, or on another device): no
 * preview, nothing unread; its place stays. A message newer than throughId (it came
 * meanwhile) stays as the preview.
 */
export function applyCleared(list: readonly ChatSummary[], chatId: number, throughId = Infinity): ChatSummary[] {
  const i = list.findIndex((c) => c.id === chatId)
  if (i < 0) return list as ChatSummary[]
  const c = list[i]
  if ((c.last_message?.id ?? 0) > throughId) return list as ChatSummary[]
  const out = list.slice()
  out[i] = { ...c, last_message: null, unread_count: 0, read_message_id: Math.max(c.read_message_id, c.last_message?.id ?? 0) }
  return out
}
