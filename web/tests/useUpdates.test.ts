import { effectScope } from 'vue'
import { describe, expect, it, vi } from 'vitest'
import { ApiError } from '../src/api/client'
import type { Publication, UpdatesPage } from '../src/api/types'
import { useUpdates } from '../src/composables/useUpdates'
import { ChatHub, type ChatEvent } from '../src/lib/hub'
import { FakeClient } from './fakeCentrifuge'
import { bob, msg } from './fixtures'

function setup(updates: (after?: string) => Promise<UpdatesPage>) {
  const calls: string[] = []
  const clients: FakeClient[] = []
  const api = {
    updates: vi.fn(async (after?: string) => {
      calls.push(after === undefined ? 'updates' : `updates after ${after}`)
      return updates(after)
    }),
    realtimeToken: vi.fn(async () => {
      calls.push('realtime token')
      return { url: 'ws://x', token: 't', expires_at: '', personal_channel: 'user:1' }
    }),
    subscriptionToken: vi.fn(async (channel: string) => ({ token: 'sub-' + channel })),
  }
  const applied: Publication[] = []
  const chatList = {
    apply: vi.fn((p: Publication) => void applied.push(p)),
    load: vi.fn(async () => void calls.push('load list')),
    reload: vi.fn(async () => void calls.push('reload list')),
  }
  const hub = new ChatHub()
  const removed: number[] = []
  const u = effectScope().run(() =>
    useUpdates(api as any, chatList, hub, {
      onChatRemoved: (id) => removed.push(id),
      factory: (url, opts) => {
        const c = new FakeClient(url, opts)
        clients.push(c)
        return c
      },
    }),
  )!
  const personal = () => clients[0].subs.get('user:1')!
  return { u, api, calls, applied, chatList, hub, removed, clients, personal }
}

const page = (cursor: string, updates: unknown[] = [], has_more = false): UpdatesPage => ({ updates, cursor, has_more })

describe('useUpdates', () => {
  it('takes the cursor, then loads the list, then subscribes the personal channel only', async () => {
    const { u, calls, clients } = setup(async () => page('5.s'))
    await u.start()
    expect(calls).toEqual(['updates', 'load list', 'realtime token'])
    expect([...clients[0].subs.keys()]).toEqual(['user:1'])
  })

  it('the first subscribe and a failed recovery catch up from the cursor; nothing reloads', async () => {
    const { u, calls, personal, chatList } = setup(async (after) => page(after ?? '5.s'))
    await u.start()
    personal().emit('subscribed', { wasRecovering: false, recovered: false })
    await vi.waitFor(() => expect(calls).toContain('updates after 5.s'))
    personal().emit('subscribed', { wasRecovering: true, recovered: true })
    personal().emit('subscribed', { wasRecovering: true, recovered: false })
    await vi.waitFor(() => expect(calls.filter((c) => c === 'updates after 5.s')).toHaveLength(2))
    expect(chatList.reload).not.toHaveBeenCalled()
  })

  it('routes a chat’s message and read position to the list and to that chat’s pane', async () => {
    const { u, personal, applied, hub } = setup(async () => page('5.s'))
    await u.start()
    const pane: ChatEvent[] = []
    const otherPane: ChatEvent[] = []
    hub.on(42, (ev) => pane.push(ev))
    hub.on(43, (ev) => otherPane.push(ev))
    const m = msg(900, bob, { chat_id: 42 })
    personal().emit('publication', { data: { type: 'message.created', cursor: '6.s', message: m } })
    personal().emit('publication', { data: { type: 'read.updated', cursor: '7.s', chat_id: 42, user_id: 1, message_id: 900 } })
    personal().emit('publication', { data: { type: 'member.removed', cursor: '8.s', chat_id: 42, user_id: 5, members_count: 2 } })
    expect(applied.map((p) => p.type)).toEqual(['message.created', 'read.updated', 'member.removed'])
    expect(pane.map((e) => (e.kind === 'publication' ? e.pub.type : e.kind))).toEqual(['message.created', 'read.updated'])
    expect(otherPane).toEqual([])
  })

  it('tells the view when a chat is removed', async () => {
    const { u, personal, removed } = setup(async () => page('5.s'))
    await u.start()
    personal().emit('publication', { data: { type: 'chat.removed', cursor: '6.s', chat_id: 42 } })
    expect(removed).toEqual([42])
  })

  it('on 410: a fresh cursor, then the list reloads and the open chat catches up', async () => {
    let now = '5.s'
    const { u, personal, calls, hub } = setup(async (after) => {
      if (after === undefined) return page(now)
      throw new ApiError(410, 'gone', 'too old')
    })
    const pane: ChatEvent[] = []
    hub.on(42, (ev) => pane.push(ev))
    await u.start()
    now = '90.s'
    personal().emit('subscribed', { wasRecovering: true, recovered: false })
    await vi.waitFor(() => expect(calls).toContain('reload list'))
    expect(calls.slice(-3)).toEqual(['updates after 5.s', 'updates', 'reload list'])
    expect(pane).toEqual([{ kind: 'resync', reason: 'stream-reset' }])
    expect(u.stream.position).toBe('90.s')
  })
})

