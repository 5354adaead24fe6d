import type { ChatKind, Member, Message, User } from '../api/types'

/** What the message menu offers (API.md 1.1, "Messages"). */
export type MessageAction = 'reply' | 'edit' | 'copy' | 'forward' | 'delete-me' | 'delete-all'

export interface ChatRoles {
  kind: ChatKind
  /** The members with their roles (GET /chats/{id}); null while not known. */
  members: readonly Member[] | null
}

/**
 * Whether the user may delete a message for everyone: their own message, or any message
 * in a group where they are an admin or a moderator. While the roles are not known only
 * their own messages qualify — the server decides anyway, and a wrong offer would only
 * end in a refusal.
 */
export function canDeleteForEveryone(msg: Message, me: User, chat: ChatRoles | null): boolean {
  if (msg.author.id === me.id) return true
  if (!chat || chat.kind !== 'group' || !chat.members) return false
  const role = chat.members.find((m) => m.user.id === me.id)?.role
  return role === 'admin' || role === 'moderator'
}

/** Whether the user may send in the chat (a muted member may not: API.md). */
export function canSend(me: User, chat: ChatRoles | null): boolean {
  const role = chat?.members?.find((m) => m.user.id === me.id)?.role
  return role !== 'muted'
}

/** The menu of a message, in the order shown. */
export function messageActions(msg: Message, me: User, chat: ChatRoles | null): MessageAction[] {
  const out: MessageAction[] = []
  const sends = canSend(me, chat)
  if (sends) out.push('reply')
  // An edit changes the author's own words (a forwarded text is someone else's); a muted
  // member may not edit either (API.md 1.1).
  if (sends && msg.author.id === me.id && !msg.forwarded_from) out.push('edit')
  out.push('copy', 'forward', 'delete-me')
  if (canDeleteForEveryone(msg, me, chat)) out.push('delete-all')
  return out
}

export const ACTION_LABELS: Record<MessageAction, string> = {
  reply: 'Reply',
  edit: 'Edit',
  copy: 'Copy text',
  forward: 'Forward',
  'delete-me': 'Delete for me',
  'delete-all': 'Delete for everyone',
}

/** A quote's one line: the first line of the text, or what stands for a deleted one. */
export function quoteLine(text: string): string {
  if (text === '') return 'Deleted message'
  const line = text.split('\n', 1)[0]
  return line.trim() === '' ? text.trim().split('\n', 1)[0] : line
}
