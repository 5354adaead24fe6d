import type { ChatSignal, ChatSummary, Member, MemberRole, Message, Publication, Update, User } from '../api/types'

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null
const isId = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v)
const isCount = (v: unknown): v is number => isId(v) && v >= 0

function isMessage(v: unknown): v is Message {
  return (
    isObj(v) && isId(v.id) && isId(v.chat_id) && typeof v.text === 'string' &&
    isObj(v.author) && isId(v.author.id) && typeof v.sent_at === 'string'
  )
}

function isSummary(v: unknown): v is ChatSummary {
  return isObj(v) && isId(v.id) && typeof v.channel === 'string' && typeof v.title === 'string'
}

const ROLES: readonly string[] = ['admin', 'moderator', 'member', 'muted'] satisfies MemberRole[]
const isRole = (v: unknown): v is MemberRole => typeof v === 'string' && ROLES.includes(v)

/** A User's fields (a renamed member's new name, their avatar), nothing else. */
function pickUser(u: Record<string, unknown>): User {
  const user: User = { id: u.id as number, name: u.name as string }
  if (typeof u.avatar_url === 'string' || u.avatar_url === null) user.avatar_url = u.avatar_url
  return user
}

function isMember(v: unknown): v is Member {
  return isObj(v) && isObj(v.user) && isId(v.user.id) && typeof v.user.name === 'string' && typeof v.role === 'string'
}

/** The body of a known publication type, without its cursor; null for anything else. */
function parseBody(data: Record<string, unknown>): Publication | null {
  switch (data.type) {
    case 'message.created':
      return isMessage(data.message) ? { type: 'message.created', message: data.message } : null
    case 'read.updated':
      return isId(data.chat_id) && isId(data.user_id) && isId(data.message_id)
        ? { type: 'read.updated', chat_id: data.chat_id, user_id: data.user_id, message_id: data.message_id }
        : null
    case 'chat.added':
      return isSummary(data.chat) ? { type: 'chat.added', chat: data.chat } : null
    case 'chat.removed':
      return isId(data.chat_id) ? { type: 'chat.removed', chat_id: data.chat_id } : null
    case 'member.added':
      return isId(data.chat_id) && isMember(data.member) && isCount(data.members_count)
        ? { type: 'member.added', chat_id: data.chat_id, member: data.member, members_count: data.members_count }
        : null
    case 'member.removed':
      return isId(data.chat_id) && isId(data.user_id) && isCount(data.members_count)
        ? { type: 'member.removed', chat_id: data.chat_id, user_id: data.user_id, members_count: data.members_count }
        : null
    case 'message.edited':
      return isMessage(data.message) ? { type: 'message.edited', message: data.message } : null
    case 'message.deleted':
      return isId(data.chat_id) && isId(data.message_id)
        ? { type: 'message.deleted', chat_id: data.chat_id, message_id: data.message_id }
        : null
    case 'member.updated':
      return isId(data.chat_id) && isObj(data.user) && isId(data.user.id) && typeof data.user.name === 'string' && isRole(data.role)
        ? { type: 'member.updated', chat_id: data.chat_id, user: pickUser(data.user), role: data.role }
        : null
    case 'chat.updated':
      return isSummary(data.chat) ? { type: 'chat.updated', chat: data.chat } : null
    case 'history.cleared':
      return isId(data.chat_id) && isId(data.through_id)
        ? { type: 'history.cleared', chat_id: data.chat_id, through_id: data.through_id }
        : null
    case 'typing':
      return isId(data.chat_id) && isObj(data.user) && isId(data.user.id) && typeof data.user.name === 'string'
        ? { type: 'typing', chat_id: data.chat_id, user: pickUser(data.user) }
        : null
    case 'presence.updated':
      return isId(data.user_id) && typeof data.online === 'boolean' &&
        (data.last_seen_at === null || typeof data.last_seen_at === 'string')
        ? { type: 'presence.updated', user_id: data.user_id, online: data.online, last_seen_at: data.last_seen_at }
        : null
    default:
      return null
  }
}

/**
 * Reads a publication's data (a chat channel's, or the personal channel's with its
 * cursor kept). Unknown types and malformed bodies give null and are ignored, so an older
 * client keeps working when the server learns new events.
 */
export function parsePublication(data: unknown): Publication | null {
  if (!isObj(data) || typeof data.type !== 'string') return null
  const pub = parseBody(data)
  if (pub && typeof data.cursor === 'string') pub.cursor = data.cursor
  return pub
}

/**
 * Reads one update of the user's stream (personal channel, GET /updates). Anything with
 * a cursor is an update: a type this client does not know, or a body it cannot read,
 * becomes `{type: 'unknown', cursor}` so that the stream still moves past it instead of
 * waiting forever for a gap that will never fill. Without a cursor: null.
 */
export function parseUpdate(data: unknown): Update | null {
  if (!isObj(data) || typeof data.cursor !== 'string') return null
  const cursor = data.cursor
  const pub = typeof data.type === 'string' ? parseBody(data) : null
  return pub ? { ...pub, cursor } : { type: 'unknown', cursor }
}

/**
 * Reads an ephemeral signal of a chat channel (typing, presence); null for anything else
 * — the chat channel also carries the messages, which this client takes from the user's
 * update stream instead.
 */
export function parseChatSignal(data: unknown): ChatSignal | null {
  const p = parsePublication(data)
  return p && (p.type === 'typing' || p.type === 'presence.updated') ? p : null
}
