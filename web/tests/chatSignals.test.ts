// Chat channels for typing and presence (API 1.1): which ones the client subscribes, and
// what their publications do. The realtime composable runs on the fake Centrifuge client.
import { effectScope, nextTick } from 'vue'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { ChatSummary } from '../src/api/types'
import { MAX_CHAT_CHANNELS, useChatSignals } from '../src/composables/useChatSignals'
import { useRealtime } from '../src/composables/useRealtime'
import { parseChatSignal } from '../src/lib/publications'
import { FakeClient } from './fakeCentrifuge'
import { alice, bob, chat } from './fixtures'

function realtime() {
  const clients: FakeClient[] = []
  const api = {
    realtimeToken: vi.fn(async () => ({ url: 'ws://x', token: 't', expires_at: '', personal_channel: 'user:1' })),
    subscriptionToken: vi.fn(async (channel: string) => ({ token: 'sub-' + channel })),
  }
  const rt = useRealtime(api as any, { onUpdate: () => {} }, (url, opts) => {
    const c = new FakeClient(url, opts)
    clients.push(c)
    return c
  })
  return { rt, clients, client: () => clients[0] }
}

describe('useRealtime.watchChannel', () => {
  it('one subscription per channel however many watch it; the last to let go ends it', async () => {
    const scope = effectScope()
    const { rt, client } = scope.run(realtime)!
    // Wished for before the connection exists: subscribed when it does.
    const got: unknown[] = []
    const stopA = rt.watchChannel('chat:5', { onPublication: (d) => got.push(['a', d]) })
    await rt.start()
    expect([...client().subs.keys()]).toEqual(['user:1', 'chat:5'])
    const stopB = rt.watchChannel('chat:5', { onPublication: (d) => got.push(['b', d]) })
    expect(client().subs.size).toBe(2)
    client().subs.get('chat:5')!.emit('publication', { data: { type: 'typing' } })
    expect(got).toEqual([['a', { type: 'typing' }], ['b', { type: 'typing' }]])
    stopA()
    stopA() // twice is once
    expect(client().subs.has('chat:5')).toBe(true)
    stopB()
    expect(client().subs.has('chat:5')).toBe(false)
    expect(rt.subscribedChannels()).toEqual(['user:1'])
    // Watching again subscribes again.
    rt.watchChannel('chat:5', { onPublication: () => {} })
    expect(client().subs.get('chat:5')!.subscribed).toBe(true)
    scope.stop()
    expect(client().subs.size).toBe(0)
  })
})

describe('useChatSignals', () => {
  beforeEach(() => vi.useFakeTimers())
  afterEach(() => vi.useRealTimers())

  function setup(chats: ChatSummary[]) {
    const scope = effectScope()
    const r = scope.run(realtime)!
    const byId = new Map(chats.map((c) => [c.id, c]))
    const typing = { typing: vi.fn(), stopped: vi.fn() }
    const presence = { apply: vi.fn(), refresh: vi.fn(async () => ({}) as any) }
    const signals = scope.run(() =>
      useChatSignals({
        realtime: r.rt,
        chatList: { byId: (id) => byId.get(id) },
        me: alice,
        typing,
        presence,
        peer: (c) => (c.kind === 'direct' ? bob : null),
        delayMs: 200,
      }),
    )!
    return { ...r, signals, typing, presence, scope }
  }

  const chatChannels = (c: FakeClient) => [...c.subs.keys()].filter((k) => k !== 'user:1').sort()

  it('subscribes the open chat at once and the chats in view when the list settles, never more than the cap', async () => {
    const chats = Array.from({ length: 50 }, (_, i) => chat(i + 1))
    const { rt, client, signals } = setup(chats)
    await rt.start()
    signals.setOpen(3)
    await nextTick()
    expect(chatChannels(client())).toEqual(['chat:3'])
    signals.setVisible([1, 2, 3, 4])
    await nextTick()
    vi.advanceTimersByTime(200)
    expect(chatChannels(client())).toEqual(['chat:1', 'chat:2', 'chat:3', 'chat:4'])
    // Scrolled: rows that left the view are let go.
    signals.setVisible([4, 5])
    await nextTick()
    vi.advanceTimersByTime(200)
    expect(chatChannels(client())).toEqual(['chat:3', 'chat:4', 'chat:5'])
    signals.setVisible(chats.map((c) => c.id))
    await nextTick()
    vi.advanceTimersByTime(200)
    expect(chatChannels(client())).toHaveLength(MAX_CHAT_CHANNELS)
    expect(chatChannels(client())).toContain('chat:3')
    signals.setOpen(null)
    signals.setVisible([])
    await nextTick()
    vi.advanceTimersByTime(200)
    expect(chatChannels(client())).toEqual([])
  })

  it('a panel holds a chat’s channel until it lets go', async () => {
    const { rt, client, signals } = setup([chat(8)])
    await rt.start()
    const release = signals.hold(8)
    await nextTick()
    vi.advanceTimersByTime(200)
    expect(chatChannels(client())).toEqual(['chat:8'])
    release()
    await nextTick()
    vi.advanceTimersByTime(200)
    expect(chatChannels(client())).toEqual([])
  })

  it('routes typing of others (not the user’s own) and presence; ignores messages', async () => {
    const { rt, client, signals, typing, presence } = setup([chat(3)])
    await rt.start()
    signals.setOpen(3)
    await nextTick()
    const sub = client().subs.get('chat:3')!
    sub.emit('publication', { data: { type: 'typing', chat_id: 3, user: bob } })
    sub.emit('publication', { data: { type: 'typing', chat_id: 3, user: alice } })
    sub.emit('publication', { data: { type: 'message.created', message: {} } })
    const p = { type: 'presence.updated', user_id: bob.id, online: true, last_seen_at: null }
    sub.emit('publication', { data: p })
    expect(typing.typing).toHaveBeenCalledTimes(1)
    expect(typing.typing).toHaveBeenCalledWith(3, bob)
    expect(presence.apply).toHaveBeenCalledWith(p)
  })

  it('reads the other member’s presence again after each subscription of the open direct chat', async () => {
    const { rt, client, signals, presence } = setup([chat(3), chat(4, { kind: 'group' })])
    await rt.start()
    signals.setOpen(3)
    await nextTick()
    client().subs.get('chat:3')!.emit('subscribed', {})
    client().subs.get('chat:3')!.emit('subscribed', { wasRecovering: true })
    expect(presence.refresh).toHaveBeenCalledTimes(2)
    expect(presence.refresh).toHaveBeenCalledWith(bob.id)
    signals.setOpen(4)
    await nextTick()
    client().subs.get('chat:4')!.emit('subscribed', {})
    expect(presence.refresh).toHaveBeenCalledTimes(2)
  })
})

describe('parseChatSignal', () => {
  it('reads typing and presence.updated, nothing else', () => {
    expect(parseChatSignal({ type: 'typing', chat_id: 3, user: { id: 2, name: 'bob', avatar_url: null } })).toEqual({
      type: 'typing', chat_id: 3, user: { id: 2, name: 'bob', avatar_url: null },
    })
    expect(parseChatSignal({ type: 'presence.updated', user_id: 2, online: false, last_seen_at: '2026-11-27T10:00:00.000Z' })).toEqual({
      type: 'presence.updated', user_id: 2, online: false, last_seen_at: '2026-11-27T10:00:00.000Z',
    })
    expect(parseChatSignal({ type: 'typing', chat_id: 3 })).toBeNull()
    expect(parseChatSignal({ type: 'presence.updated', user_id: 2, online: 'yes' })).toBeNull()
    expect(parseChatSignal({ type: 'message.created', message: {} })).toBeNull()
    expect(parseChatSignal(null)).toBeNull()
  })
})
