import { effectScope, shallowRef } from 'vue'
import { describe, expect, it, vi } from 'vitest'
import type { Chat, ChatSummary, Update, User } from '../src/api/types'
import { privacyOf, usePeople } from '../src/composables/usePeople'
import type { ChatEvent } from '../src/lib/hub'
import { alice, bob, chat, msg } from './fixtures'

const flush = () => new Promise((r) => setTimeout(r, 0))

function full(summary: ChatSummary, members: User[]): Chat {
  return { ...summary, created_at: summary.updated_at, members: members.map((user) => ({ user, role: 'member' as const })) }
}

function setup(chats: ChatSummary[], fullChats: Record<number, Chat> = {}) {
  const list = shallowRef(chats)
  const chatList = {
    byId: (id: number) => list.value.find((c) => c.id === id),
    addChat: (c: ChatSummary) => (list.value = [...list.value.filter((x) => x.id !== c.id), c]),
  }
  const api = {
    getChat: vi.fn(async (id: number) => {
      const c = fullChats[id]
      if (!c) throw new Error('no such chat')
      return c
    }),
    me: vi.fn(async () => ({ ...alice, avatar_url: '/api/v1/avatars/me' })),
    privacy: vi.fn(async () => ({ last_seen: 'nobody' as const, direct_messages: 'everyone' as const })),
    blocks: vi.fn(async () => ({ users: [bob] })),
    block: vi.fn(async () => undefined),
    unblock: vi.fn(async () => undefined),
    setPrivacy: vi.fn(async (p: object) => ({ last_seen: 'everyone' as const, direct_messages: 'everyone' as const, ...p })),
  }
  const scope = effectScope()
  const people = scope.run(() => usePeople(api as any, { ...alice }, chatList))!
  return { people, api, list, scope }
}

const renamed = (user: User, chatId: number): Update => ({ type: 'member.updated', chat_id: chatId, user, role: 'member', cursor: '1.s' })

describe('usePeople', () => {
  it('a rename shows on what was loaded before it: person() gives the new name and avatar', () => {
    const { people } = setup([chat(7, { kind: 'group', title: 'Team' })])
    const old = msg(1, bob).author
    expect(people.person(old)).toBe(old)
    people.apply(renamed({ id: bob.id, name: 'robert', avatar_url: '/api/v1/avatars/r' }, 7))
    expect(people.person(old)).toEqual({ id: bob.id, name: 'robert', avatar_url: '/api/v1/avatars/r' })
    expect(people.person(alice)).toBe(alice)
  })

  it('a direct chat takes its peer’s new name as its title (API.md: the title is the other member’s name)', () => {
    const { people, list } = setup([chat(8, { kind: 'direct', title: 'bob' }), chat(9, { kind: 'group', title: 'Team' })])
    people.apply(renamed({ id: bob.id, name: 'robert' }, 8))
    expect(list.value.find((c) => c.id === 8)?.title).toBe('robert')
    expect(list.value.find((c) => c.id === 9)?.title).toBe('Team')
  })

  it('a direct chat’s peer: the last message’s other author, else one GET /chats/{id}, once', async () => {
    const withMessage = chat(8, { last_message: msg(1, bob) })
    const mine = chat(9, { last_message: msg(2, alice) })
    const { people, api } = setup([withMessage, mine], { 9: full(mine, [alice, bob]) })
    expect(people.peer(withMessage)).toEqual(bob)
    expect(people.peer(mine)).toBeNull()
    expect(people.peer(mine)).toBeNull()
    await flush()
    expect(api.getChat).toHaveBeenCalledTimes(1)
    expect(people.peer(mine)).toEqual(bob)
    expect(people.peer(chat(10, { kind: 'group' }))).toBeNull()
  })

  it('routes member and chat updates to the panels by chat id', () => {
    const { people } = setup([])
    const seen: ChatEvent[] = []
    const off = people.hub.on(5, (ev) => seen.push(ev))
    people.apply({ type: 'member.removed', chat_id: 5, user_id: 2, members_count: 1, cursor: '1.s' })
    people.apply({ type: 'chat.updated', chat: chat(5, { title: 'New' }), cursor: '2.s' })
    people.apply({ type: 'member.removed', chat_id: 6, user_id: 2, members_count: 1, cursor: '3.s' })
    off()
    expect(seen.map((e) => e.kind === 'publication' && e.pub.type)).toEqual(['member.removed', 'chat.updated'])
  })

  it('start: the user’s own avatar (GET /me) and privacy settings (GET /me/privacy)', async () => {
    const { people } = setup([])
    await people.start()
    expect(people.person(alice).avatar_url).toBe('/api/v1/avatars/me')
    expect(people.privacy).toEqual({ last_seen: 'nobody', direct_messages: 'everyone' })
    await people.setPrivacy({ direct_messages: 'nobody' })
    expect(people.privacy).toEqual({ last_seen: 'everyone', direct_messages: 'nobody' })
  })

  it('blocks: loaded once, then kept by block and unblock', async () => {
    const { people, api } = setup([])
    await people.loadBlocks()
    expect(people.blocked.has(bob.id)).toBe(true)
    await people.setBlocked(bob.id, false)
    expect(api.unblock).toHaveBeenCalledWith(bob.id)
    expect(people.blocked.has(bob.id)).toBe(false)
    await people.setBlocked(3, true)
    expect(api.block).toHaveBeenCalledWith(3)
    expect([...people.blocked]).toEqual([3])
  })

  it('panels stack: a member’s profile over the chat info, back, close; one’s own profile is the editor', () => {
    const { people } = setup([])
    people.openChatInfo(5)
    people.openProfile(bob.id)
    expect(people.panel.stack).toEqual([{ kind: 'chat', chatId: 5 }, { kind: 'user', userId: bob.id }])
    people.panel.back()
    people.openProfile(alice.id)
    expect(people.panel.stack[1]).toEqual({ kind: 'me' })
    people.panel.close()
    expect(people.panel.stack).toEqual([])
  })

  it('privacyOf reads settings at the top or under "privacy", else null', () => {
    expect(privacyOf({ last_seen: 'nobody', direct_messages: 'everyone' })).toEqual({ last_seen: 'nobody', direct_messages: 'everyone' })
    expect(privacyOf({ privacy: { last_seen: 'everyone', direct_messages: 'nobody' } })).toEqual({ last_seen: 'everyone', direct_messages: 'nobody' })
    expect(privacyOf({ id: 1, name: 'a' })).toBeNull()
    expect(privacyOf({ last_seen: 'friends', direct_messages: 'everyone' })).toBeNull()
  })
})
