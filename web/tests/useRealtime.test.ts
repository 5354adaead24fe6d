import { effectScope } from 'vue'
import { describe, expect, it, vi } from 'vitest'
import { ApiError } from '../src/api/client'
import { useRealtime } from '../src/composables/useRealtime'
import { FakeClient } from './fakeCentrifuge'

function setup(apiOver: Partial<{ realtimeToken: () => Promise<any>; subscriptionToken: (ch: string) => Promise<any> }> = {}) {
  const clients: FakeClient[] = []
  const api = {
    realtimeToken: vi.fn(async () => ({ url: 'ws://x/connection/websocket', token: 'conn-tok', expires_at: '', personal_channel: 'user:1' })),
    subscriptionToken: vi.fn(async (channel: string) => ({ token: 'sub-' + channel })),
    ...apiOver,
  }
  const pubs: unknown[] = []
  const catchUps: string[] = []
  const scope = effectScope()
  const rt = scope.run(() =>
    useRealtime(
      api as any,
      { onUpdate: (d) => pubs.push(d), onCatchUp: (r) => catchUps.push(r) },
      (url, opts) => {
        const c = new FakeClient(url, opts)
        clients.push(c)
        return c
      },
    ),
  )!
  return { rt, api, clients, pubs, catchUps, scope }
}

describe('useRealtime', () => {
  it('connects with the API token and subscribes the personal channel only', async () => {
    const { rt, clients } = setup()
    await rt.start()
    const c = clients[0]
    expect(c.url).toBe('ws://x/connection/websocket')
    expect(c.opts.token).toBe('conn-tok')
    expect(c.connected).toBe(true)
    expect([...c.subs.keys()]).toEqual(['user:1'])
    expect(rt.subscribedChannels()).toEqual(['user:1'])
    expect(rt.state.value).toBe('connecting')
    c.emit('connected', {})
    expect(rt.state.value).toBe('connected')
  })

  it('gets the personal channel’s subscription token from the API (and refreshes through the same callback)', async () => {
    const { rt, clients, api } = setup()
    await rt.start()
    await expect(clients[0].subs.get('user:1')!.getToken({ channel: 'user:1' })).resolves.toBe('sub-user:1')
    expect(api.subscriptionToken).toHaveBeenCalledTimes(1)
    expect(api.subscriptionToken).toHaveBeenCalledWith('user:1')
    await expect(clients[0].opts.getToken()).resolves.toBe('conn-tok')
  })

  it('tells the SDK to stop retrying when the API refuses a token', async () => {
    const { rt, clients } = setup({ subscriptionToken: async () => { throw new ApiError(403, 'forbidden', 'no') } })
    await rt.start()
    const err = await clients[0].subs.get('user:1')!.getToken({ channel: 'user:1' }).catch((e) => e)
    expect(err.name).toBe('UnauthorizedError')
  })

  it('hands the personal channel’s publications to the update stream as they are', async () => {
    const { rt, clients, pubs } = setup()
    await rt.start()
    const sub = clients[0].subs.get('user:1')!
    const data = { type: 'read.updated', cursor: '4.s', chat_id: 1, user_id: 2, message_id: 3 }
    sub.emit('publication', { data })
    expect(pubs).toEqual([data])
  })

  it('asks for a catch-up whenever a subscription did not recover, not when it did', async () => {
    const { rt, clients, catchUps } = setup()
    await rt.start()
    const sub = clients[0].subs.get('user:1')!
    sub.emit('subscribed', { wasRecovering: false, recovered: false })
    sub.emit('subscribed', { wasRecovering: true, recovered: true })
    sub.emit('subscribed', { wasRecovering: true, recovered: false })
    sub.emit('subscribed', { wasRecovering: false, recovered: false })
    expect(catchUps).toEqual(['first-subscribe', 'recovery-failed', 'not-recovered'])
  })

  it('shows reconnecting after having been connected', async () => {
    const { rt, clients } = setup()
    await rt.start()
    clients[0].emit('connected', {})
    clients[0].emit('connecting', { code: 1, reason: 'transport closed' })
    expect(rt.state.value).toBe('reconnecting')
  })

  it('retries the first token with back-off while the API is down', async () => {
    vi.useFakeTimers()
    try {
      let fail = 2
      const { rt, clients } = setup({
        realtimeToken: async () => {
          if (fail-- > 0) throw new ApiError(503, 'unavailable', 'down')
          return { url: 'ws://y', token: 't', expires_at: '', personal_channel: 'user:1' }
        },
      })
      await rt.start()
      expect(clients).toHaveLength(0)
      await vi.advanceTimersByTimeAsync(5000)
      expect(clients).toHaveLength(1)
    } finally {
      vi.useRealTimers()
    }
  })

  it('cleans up when its scope ends', async () => {
    const { rt, clients, scope } = setup()
    await rt.start()
    scope.stop()
    expect(clients[0].connected).toBe(false)
    expect(clients[0].subs.size).toBe(0)
    expect(rt.state.value).toBe('idle')
  })
})
