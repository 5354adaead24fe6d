import type { ChatSummary, Message, Publication } from '../api/types'

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null
const isId = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v)

function isMessage(v: unknown): v is Message {
  return (
    isObj(v) && isId(v.id) && isId(v.chat_id) && typeof v.text === 'string' &&
    isObj(v.author) && isId(v.author.id) && typeof v.sent_at === 'string'
  )
}

function isSummary(v: unknown): v is ChatSummary {
  return isObj(v) && isId(v.id) && typeof v.channel === 'string' && typeof v.title === 'string'
}

/**
 * Reads a publication's data. Unknown types (the planned message.edited, message.deleted,
 * member.role_changed…) and malformed bodies give null and are ignored, so an older
 * client keeps working when the server learns new events.
 */
export function parsePublication(data: unknown): Publication | null {
  if (!isObj(data) || typeof data.type !== 'string') return null
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
    default:
      return null
  }
}
