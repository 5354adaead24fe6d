import { describe, expect, it } from 'vitest'
import type { Chat, Member, MemberRole } from '../src/api/types'
import {
  applyMemberAdded,
  applyMemberRemoved,
  applyMemberUpdated,
  canAddMembers,
  canRename,
  initials,
  lastAdminBlocks,
  lastSeenLabel,
  memberActions,
  peerOf,
  personGradient,
  personNameColor,
  sortMembers,
} from '../src/lib/people'
import { buildTimeline } from '../src/lib/timeline'
import { alice, bob, chat, msg } from './fixtures'

const carol = { id: 3, name: 'carol' }
const m = (user: { id: number; name: string }, role: MemberRole): Member => ({ user, role })
function group(members: Member[]): Chat {
  return { ...chat(42, { kind: 'group', title: 'Team', members_count: members.length }), created_at: '2026-11-27T10:00:00.000Z', members }
}

describe('who may do what (API.md 1.1 "Chats and roles")', () => {
  const ROLES: MemberRole[] = ['admin', 'moderator', 'member', 'muted']

  it('an admin may give any other role and remove anyone else', () => {
    const got = Object.fromEntries(ROLES.map((r) => [r, memberActions('group', 'admin', alice.id, m(bob, r))]))
    expect(got).toEqual({
      admin: ['make-moderator', 'make-member', 'remove'],
      moderator: ['make-admin', 'make-member', 'remove'],
      member: ['make-admin', 'make-moderator', 'mute', 'remove'],
      muted: ['make-admin', 'make-moderator', 'unmute', 'remove'],
    })
  })

  it('a moderator sets member ↔ muted and removes members and muted members, nothing on admins and moderators', () => {
    const got = Object.fromEntries(ROLES.map((r) => [r, memberActions('group', 'moderator', alice.id, m(bob, r))]))
    expect(got).toEqual({ admin: [], moderator: [], member: ['mute', 'remove'], muted: ['unmute', 'remove'] })
  })

  it('members, muted members, non-members, oneself and direct chats get nothing', () => {
    for (const viewer of ['member', 'muted', null] as const) {
      expect(memberActions('group', viewer, alice.id, m(bob, 'member'))).toEqual([])
    }
    expect(memberActions('group', 'admin', alice.id, m(alice, 'admin'))).toEqual([])
    expect(memberActions('direct', 'admin', alice.id, m(bob, 'member'))).toEqual([])
  })

  it('only a group’s admins rename it and add members', () => {
    expect([canRename('group', 'admin'), canRename('group', 'moderator'), canRename('direct', 'admin')]).toEqual([true, false, false])
    expect([canAddMembers('group', 'admin'), canAddMembers('group', 'moderator'), canAddMembers('group', null)]).toEqual([true, false, false])
  })

  it('the last admin may not leave while others remain; with another admin, or alone, they may', () => {
    expect(lastAdminBlocks(group([m(alice, 'admin'), m(bob, 'member')]), alice.id)).toBe(true)
    expect(lastAdminBlocks(group([m(alice, 'admin'), m(bob, 'admin')]), alice.id)).toBe(false)
    expect(lastAdminBlocks(group([m(alice, 'admin')]), alice.id)).toBe(false)
    expect(lastAdminBlocks(group([m(alice, 'admin'), m(bob, 'member')]), bob.id)).toBe(false)
    expect(lastAdminBlocks({ kind: 'direct', members: [m(alice, 'admin'), m(bob, 'member')] }, alice.id)).toBe(false)
  })
})

describe('a member list kept current', () => {
  const list = [m(alice, 'admin'), m(bob, 'member')]

  it('member.updated changes the role, and the name and avatar of a renamed member', () => {
    const next = applyMemberUpdated(list, { id: 2, name: 'robert', avatar_url: '/api/v1/avatars/k' }, 'muted')
    expect(next[1]).toEqual({ user: { id: 2, name: 'robert', avatar_url: '/api/v1/avatars/k' }, role: 'muted' })
    expect(next[0]).toBe(list[0])
  })

  it('the same update twice changes nothing (same array)', () => {
    expect(applyMemberUpdated(list, bob, 'member')).toBe(list)
  })

  it('adds and removes once', () => {
    const added = applyMemberAdded(list, m(carol, 'member'))
    expect(added.map((x) => x.user.id)).toEqual([1, 2, 3])
    expect(applyMemberAdded(added, m(carol, 'member'))).toBe(added)
    expect(applyMemberRemoved(added, 3)).toEqual(list)
    expect(applyMemberRemoved(list, 3)).toBe(list)
  })

  it('sorts admins first, then by name', () => {
    const sorted = sortMembers([m(carol, 'muted'), m(bob, 'member'), m({ id: 9, name: 'zed' }, 'admin'), m(alice, 'member')])
    expect(sorted.map((x) => x.user.name)).toEqual(['zed', 'alice', 'bob', 'carol'])
  })

  it('the peer of a direct chat is the member who is not me', () => {
    expect(peerOf({ kind: 'direct', members: [m(alice, 'member'), m(bob, 'member')] }, alice.id)).toEqual(bob)
    expect(peerOf(group([m(alice, 'admin'), m(bob, 'member')]), alice.id)).toBeNull()
  })
})

describe('what a person looks like', () => {
  it('the colour comes from the id alone, the same everywhere', () => {
    expect(personGradient(9)).toBe(personGradient(9))
    expect(personGradient(9)).toBe(personGradient(2))
    expect(personGradient(9)).not.toBe(personGradient(3))
    expect(personNameColor(2)).toMatch(/^#[0-9a-f]{6}$/)
  })

  it('initials: the first letters of the first two parts, in any script', () => {
    expect(initials('anna.k')).toBe('AK')
    expect(initials('bob')).toBe('B')
    expect(initials('Ёжик_в тумане')).toBe('ЁВ')
    expect(initials('😀x')).toBe('😀')
  })

  it('last seen: online, minutes, today, or hidden (null)', () => {
    const now = new Date('2026-11-27T12:00:00.000Z')
    expect(lastSeenLabel(true, null, now)).toBe('online')
    expect(lastSeenLabel(false, null, now)).toBeNull()
    expect(lastSeenLabel(false, '2026-11-27T11:59:40.000Z', now)).toBe('last seen just now')
    expect(lastSeenLabel(false, '2026-11-27T11:55:00.000Z', now)).toBe('last seen 5 minutes ago')
    expect(lastSeenLabel(false, '2026-11-27T11:59:00.000Z', now)).toBe('last seen 1 minute ago')
  })
})

describe('group avatars: the last bubble of each author’s run', () => {
  const now = new Date('2026-11-27T12:00:00.000Z')
  const lastOfRun = (rows: ReturnType<typeof buildTimeline>) =>
    rows.flatMap((r) => (r.kind === 'message' && r.lastOfRun ? [r.message.id] : []))

  it('marks the message before another author’s, and the newest', () => {
    const rows = buildTimeline([msg(1, bob), msg(2, bob), msg(3, carol), msg(4, alice), msg(5, bob)], [], alice.id, null, now)
    expect(lastOfRun(rows)).toEqual([2, 3, 4, 5])
  })

  it('a run also ends at a day change, the unread divider and a pause of over five minutes', () => {
    const day1 = msg(1, bob, { sent_at: '2026-11-26T10:00:00.000Z' })
    const day2 = msg(2, bob, { sent_at: '2026-11-27T10:00:00.000Z' })
    const later = msg(3, bob, { sent_at: '2026-11-27T10:06:00.000Z' })
    const next = msg(4, bob, { sent_at: '2026-11-27T10:06:10.000Z' })
    const divided = msg(5, bob, { sent_at: '2026-11-27T10:06:20.000Z' })
    expect(lastOfRun(buildTimeline([day1, day2, later, next, divided], [], alice.id, 5, now))).toEqual([1, 2, 4, 5])
  })
})
