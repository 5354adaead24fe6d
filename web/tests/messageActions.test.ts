import { describe, expect, it } from 'vitest'
import type { Member } from '../src/api/types'
import { canDeleteForEveryone, messageActions, quoteLine } from '../src/lib/messageActions'
import { alice, bob, msg } from './fixtures'

const group = (role: Member['role']) => ({
  kind: 'group' as const,
  members: [{ user: alice, role }, { user: bob, role: 'member' as const }],
})

describe('the message menu', () => {
  it('own messages: edit and delete for everyone', () => {
    expect(messageActions(msg(1, alice), alice, { kind: 'direct', members: null })).toEqual(['reply', 'edit', 'copy', 'forward', 'delete-me', 'delete-all'])
  })

  it('someone else’s in a direct chat: no edit, deleted for me only', () => {
    expect(messageActions(msg(1, bob), alice, { kind: 'direct', members: null })).toEqual(['reply', 'copy', 'forward', 'delete-me'])
  })

  it('a group admin or moderator deletes anyone’s for everyone; a member does not', () => {
    expect(canDeleteForEveryone(msg(1, bob), alice, group('admin'))).toBe(true)
    expect(canDeleteForEveryone(msg(1, bob), alice, group('moderator'))).toBe(true)
    expect(canDeleteForEveryone(msg(1, bob), alice, group('member'))).toBe(false)
    // Roles not known yet: only own messages.
    expect(canDeleteForEveryone(msg(1, bob), alice, { kind: 'group', members: null })).toBe(false)
  })

  it('a muted member cannot reply or edit; a forwarded message cannot be edited', () => {
    expect(messageActions(msg(1, bob), alice, group('muted'))).not.toContain('reply')
    expect(messageActions(msg(1, alice), alice, group('muted'))).toEqual(['copy', 'forward', 'delete-me', 'delete-all'])
    const fwd = msg(1, alice, { forwarded_from: { message_id: 9, chat_id: 7, author: bob, sent_at: '2026-11-27T10:00:00.000Z' } })
    expect(messageActions(fwd, alice, null)).not.toContain('edit')
  })

  it('a quote shows the first line, or that the message was deleted', () => {
    expect(quoteLine('first\nsecond')).toBe('first')
    expect(quoteLine('')).toBe('Deleted message')
  })
})
