import type { Chat, ChatKind, Member, MemberRole, User } from '../api/types'

// People and roles (API.md 1.1 "Chats and roles", "People"): who may do what to whom,
// a member list kept current by publications, and what a person looks like (their
// colour and initials) wherever they appear.

// --- What a person looks like ----------------------------------------------------------

/** Telegram-like gradients; the user id picks one, so a person keeps their colour everywhere. */
export const PALETTE: readonly (readonly [string, string])[] = [
  ['#ff885e', '#ff516a'],
  ['#ffcd6a', '#ffa85c'],
  ['#82b1ff', '#665fff'],
  ['#a0de7e', '#54cb68'],
  ['#53edd6', '#28c9b7'],
  ['#72d5fd', '#2a9ef1'],
  ['#e0a2f3', '#d669ed'],
]

/** Author names in group bubbles, one per gradient above, dark enough to read on white. */
const NAME_COLORS = ['#e5533d', '#d98a00', '#5b5bd6', '#3a9a48', '#1a9c8c', '#2a86cf', '#b54bd0']

export function personGradient(id: number): readonly [string, string] {
  return PALETTE[Math.abs(id) % PALETTE.length]
}

export function personNameColor(id: number): string {
  return NAME_COLORS[Math.abs(id) % NAME_COLORS.length]
}

/** One or two letters: the first of the name's first two parts ("anna.k" → "AK"). */
export function initials(name: string): string {
  const parts = name.split(/[\s._-]+/).filter(Boolean)
  const first = Array.from(parts[0] ?? name)[0] ?? '?'
  const second = parts.length > 1 ? Array.from(parts[1])[0] ?? '' : ''
  return (first + second).toUpperCase()
}

// --- Who may do what -------------------------------------------------------------------

/** What the viewer may do to another member of a group, from the info panel. */
export type MemberAction = 'make-admin' | 'make-moderator' | 'make-member' | 'mute' | 'unmute' | 'remove'

export const MEMBER_ACTION_LABELS: Record<MemberAction, string> = {
  'make-admin': 'Make admin',
  'make-moderator': 'Make moderator',
  'make-member': 'Make ordinary member',
  mute: 'Mute (read only)',
  unmute: 'Unmute',
  remove: 'Remove from group',
}

/** The role each role-changing action sets. */
export const ACTION_ROLE: Partial<Record<MemberAction, MemberRole>> = {
  'make-admin': 'admin',
  'make-moderator': 'moderator',
  'make-member': 'member',
  mute: 'muted',
  unmute: 'member',
}

export const ROLE_LABELS: Record<MemberRole, string> = {
  admin: 'admin',
  moderator: 'moderator',
  member: '',
  muted: 'muted',
}

/**
 * The actions the viewer may take on a member, as the server judges them (API.md): in a
 * group, admins everything; moderators set member ↔ muted and remove members and muted
 * members; only admins make admins and moderators. A direct chat has no roles, and
 * nobody manages themselves here (leaving is its own button). The last-admin rule is not
 * decided here: it depends on the other admins, see lastAdminBlocks.
 */
export function memberActions(kind: ChatKind, viewerRole: MemberRole | null, viewerId: number, target: Member): MemberAction[] {
  if (kind !== 'group' || viewerRole === null || target.user.id === viewerId) return []
  const out: MemberAction[] = []
  if (viewerRole === 'admin') {
    if (target.role !== 'admin') out.push('make-admin')
    if (target.role !== 'moderator') out.push('make-moderator')
    if (target.role === 'admin' || target.role === 'moderator') out.push('make-member')
    if (target.role === 'member') out.push('mute')
    if (target.role === 'muted') out.push('unmute')
    out.push('remove')
  } else if (viewerRole === 'moderator') {
    if (target.role === 'member') out.push('mute', 'remove')
    if (target.role === 'muted') out.push('unmute', 'remove')
  }
  return out
}

export function canRename(kind: ChatKind, role: MemberRole | null): boolean {
  return kind === 'group' && role === 'admin'
}

export function canAddMembers(kind: ChatKind, role: MemberRole | null): boolean {
  return kind === 'group' && role === 'admin'
}

export function roleOf(chat: Pick<Chat, 'members'>, userId: number): MemberRole | null {
  return chat.members.find((m) => m.user.id === userId)?.role ?? null
}

/**
 * Whether the server would refuse (409) that this admin leaves or loses the role: they
 * are the group's only admin and others remain. Shown before the user tries.
 */
export function lastAdminBlocks(chat: Pick<Chat, 'kind' | 'members'>, userId: number): boolean {
  if (chat.kind !== 'group' || roleOf(chat, userId) !== 'admin') return false
  const admins = chat.members.filter((m) => m.role === 'admin').length
  return admins === 1 && chat.members.length > 1
}

/** Admins first, then moderators, members and muted members; by name within each. */
const ROLE_ORDER: Record<MemberRole, number> = { admin: 0, moderator: 1, member: 2, muted: 3 }
export function sortMembers(members: readonly Member[]): Member[] {
  return members
    .slice()
    .sort((a, b) => ROLE_ORDER[a.role] - ROLE_ORDER[b.role] || a.user.name.localeCompare(b.user.name))
}

// --- A chat's member list, kept current ------------------------------------------------

/** A member's new role (or name, or avatar): the same array when nothing changed. */
export function applyMemberUpdated(members: readonly Member[], user: User, role: MemberRole): Member[] {
  const i = members.findIndex((m) => m.user.id === user.id)
  if (i < 0) return [...members, { user, role }]
  const old = members[i]
  if (old.role === role && old.user.name === user.name && (old.user.avatar_url ?? null) === (user.avatar_url ?? null)) {
    return members as Member[]
  }
  const out = members.slice()
  out[i] = { user: { ...old.user, ...user }, role }
  return out
}

export function applyMemberAdded(members: readonly Member[], member: Member): Member[] {
  if (members.some((m) => m.user.id === member.user.id)) return applyMemberUpdated(members, member.user, member.role)
  return [...members, member]
}

export function applyMemberRemoved(members: readonly Member[], userId: number): Member[] {
  const out = members.filter((m) => m.user.id !== userId)
  return out.length === members.length ? (members as Member[]) : out
}

/** The other member of a direct chat. */
export function peerOf(chat: Pick<Chat, 'kind' | 'members'>, myId: number): User | null {
  if (chat.kind !== 'direct') return null
  return chat.members.find((m) => m.user.id !== myId)?.user ?? null
}

// --- Last seen -------------------------------------------------------------------------

/** "online", "last seen just now / 5 minutes ago / today at 14:05 / on 3 Nov", or null when hidden. */
export function lastSeenLabel(online: boolean, lastSeenAt: string | null, now: Date = new Date()): string | null {
  if (online) return 'online'
  if (!lastSeenAt) return null
  const t = new Date(lastSeenAt)
  const mins = Math.floor((now.getTime() - t.getTime()) / 60_000)
  if (mins < 1) return 'last seen just now'
  if (mins < 60) return `last seen ${mins} minute${mins === 1 ? '' : 's'} ago`
  const clock = t.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' })
  if (t.toDateString() === now.toDateString()) return `last seen today at ${clock}`
  const yesterday = new Date(now)
  yesterday.setDate(now.getDate() - 1)
  if (t.toDateString() === yesterday.toDateString()) return `last seen yesterday at ${clock}`
  return `last seen on ${t.toLocaleDateString(undefined, { day: 'numeric', month: 'short', year: t.getFullYear() === now.getFullYear() ? undefined : 'numeric' })}`
}
