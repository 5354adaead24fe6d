// The API client's 1.1 people and roles requests: method, path and body as API.md has them.
import { describe, expect, it, vi } from 'vitest'
import { createApi } from '../src/api/client'
import { parsePublication } from '../src/lib/publications'

function recorder(status = 200, body: unknown = {}) {
  const fetch = vi.fn(async () =>
    status === 204 ? new Response(null, { status }) : new Response(JSON.stringify(body), { status }),
  )
  const api = createApi({ getToken: () => 'tok', fetch })
  const call = (i = 0) => {
    const [url, init] = fetch.mock.calls[i] as unknown as [string, RequestInit]
    const headers = init.headers as Record<string, string>
    return { url, method: init.method, body: init.body, type: headers['Content-Type'], auth: headers.Authorization }
  }
  return { api, call }
}

describe('API client: people and roles (1.1)', () => {
  it.each([
    ['renameChat', (a: ReturnType<typeof createApi>) => a.renameChat(4, 'New'), 'PATCH', '/api/v1/chats/4', { title: 'New' }],
    ['addMember', (a: ReturnType<typeof createApi>) => a.addMember(4, 9), 'POST', '/api/v1/chats/4/members', { user_id: 9 }],
    ['setRole', (a: ReturnType<typeof createApi>) => a.setRole(4, 9, 'muted'), 'PATCH', '/api/v1/chats/4/members/9', { role: 'muted' }],
    ['updateMe', (a: ReturnType<typeof createApi>) => a.updateMe({ about: 'hi' }), 'PATCH', '/api/v1/me', { about: 'hi' }],
    ['setPrivacy', (a: ReturnType<typeof createApi>) => a.setPrivacy({ last_seen: 'nobody' }), 'PATCH', '/api/v1/me/privacy', { last_seen: 'nobody' }],
  ] as const)('%s sends JSON', async (_name, run, method, url, body) => {
    const { api, call } = recorder()
    await run(api)
    expect(call()).toMatchObject({ method, url, type: 'application/json', auth: 'Bearer tok' })
    expect(JSON.parse(call().body as string)).toEqual(body)
  })

  it.each([
    ['removeMember', (a: ReturnType<typeof createApi>) => a.removeMember(4, 9), 'DELETE', '/api/v1/chats/4/members/9'],
    ['block', (a: ReturnType<typeof createApi>) => a.block(9), 'PUT', '/api/v1/me/blocks/9'],
    ['unblock', (a: ReturnType<typeof createApi>) => a.unblock(9), 'DELETE', '/api/v1/me/blocks/9'],
  ] as const)('%s has no body and answers nothing (204)', async (_name, run, method, url) => {
    const { api, call } = recorder(204)
    await expect(run(api)).resolves.toBeUndefined()
    expect(call()).toMatchObject({ method, url, body: undefined, type: undefined })
  })

  it('reads profiles and blocks', async () => {
    const { api, call } = recorder(200, { users: [] })
    await api.profile(9)
    await api.blocks()
    expect([call(0).method, call(0).url]).toEqual(['GET', '/api/v1/users/9'])
    expect([call(1).method, call(1).url]).toEqual(['GET', '/api/v1/me/blocks'])
  })

  it('uploads an avatar as the image bytes with their own Content-Type', async () => {
    const { api, call } = recorder(200, { id: 1, name: 'a', avatar_url: '/api/v1/avatars/k' })
    const image = new Blob([new Uint8Array([0x89, 0x50, 0x4e, 0x47])], { type: 'image/png' })
    await api.uploadAvatar(image)
    expect(call()).toMatchObject({ method: 'PUT', url: '/api/v1/me/avatar', type: 'image/png' })
    expect(call().body).toBe(image)
    await api.deleteAvatar()
    expect(call(1)).toMatchObject({ method: 'DELETE', url: '/api/v1/me/avatar' })
  })
})

describe('member.updated keeps the member’s avatar', () => {
  it('a new avatar_url (or its removal) comes through; nothing else is kept', () => {
    const pub = parsePublication({
      type: 'member.updated', chat_id: 1, role: 'member',
      user: { id: 2, name: 'bob', avatar_url: '/api/v1/avatars/x', extra: 1 },
    })
    expect(pub).toEqual({ type: 'member.updated', chat_id: 1, role: 'member', user: { id: 2, name: 'bob', avatar_url: '/api/v1/avatars/x' } })
    const none = parsePublication({ type: 'member.updated', chat_id: 1, role: 'member', user: { id: 2, name: 'bob', avatar_url: null } })
    expect(none).toMatchObject({ user: { avatar_url: null } })
  })
})
