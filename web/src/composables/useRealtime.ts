import { onScopeDispose, ref, shallowRef } from 'vue'
import { Centrifuge, UnauthorizedError } from 'centrifuge'
import type { Api } from '../api/client'
import { ApiError } from '../api/client'
import type { Publication } from '../api/types'
import { parsePublication } from '../lib/publications'

/**
 * The one owner of the Centrifugo connection: it connects with a token from the API,
 * keeps one subscription per channel it is given (the user's chats and the personal
 * channel), refreshes tokens through the SDK's getToken callbacks, reports the
 * connection state, and tears everything down when its scope ends.
 *
 * Recovery: chat and personal channels have history with forced recovery, so after a
 * reconnect the SDK replays what was missed. When the server says it could not
 * (wasRecovering && !recovered) the owner of that channel's data must reload it from the
 * HTTP API: onResync is called. It is called on a first subscription too, because what
 * was published between the HTTP load and the subscription was not delivered either.
 */

export type ConnectionState = 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'failed'

export interface RealtimeHandlers {
  onPublication: (channel: string, pub: Publication) => void
  /** The channel's data may have gaps; reload it (reason says why). */
  onResync?: (channel: string, reason: 'first-subscribe' | 'recovery-failed') => void
  onPersonalChannel?: (channel: string) => void
}

/** The subset of the SDK that this composable uses; tests pass a fake. */
export interface RealtimeSubscription {
  channel: string
  on(event: string, fn: (ctx: any) => void): unknown
  subscribe(): void
  unsubscribe(): void
}

export interface RealtimeClient {
  on(event: string, fn: (ctx: any) => void): unknown
  connect(): void
  disconnect(): void
  newSubscription(
    channel: string,
    opts: { getToken: (ctx: { channel: string }) => Promise<string> },
  ): RealtimeSubscription
  removeSubscription(sub: RealtimeSubscription): void
}

export type RealtimeClientFactory = (
  url: string,
  opts: { token: string; getToken: () => Promise<string> },
) => RealtimeClient

export const centrifugeFactory: RealtimeClientFactory = (url, opts) =>
  new Centrifuge(url, {
    token: opts.token,
    getToken: opts.getToken,
    minReconnectDelay: 500,
    maxReconnectDelay: 10_000,
  }) as unknown as RealtimeClient

type TokenApi = Pick<Api, 'realtimeToken' | 'subscriptionToken'>

/** Maps the API's "you may not" answers to the SDK's UnauthorizedError, which stops its retries. */
function sdkError(err: unknown): unknown {
  if (err instanceof ApiError && (err.status === 401 || err.status === 403 || err.status === 404)) {
    return new UnauthorizedError(err.message)
  }
  return err
}

export function useRealtime(api: TokenApi, handlers: RealtimeHandlers, factory: RealtimeClientFactory = centrifugeFactory) {
  const state = ref<ConnectionState>('idle')
  const lastError = ref<string | null>(null)
  const personalChannel = shallowRef<string | null>(null)

  let client: RealtimeClient | null = null
  let stopped = false
  let everConnected = false
  let startTimer: ReturnType<typeof setTimeout> | null = null
  const subs = new Map<string, RealtimeSubscription>()
  /** Channels wanted; kept while not yet connected so they are subscribed once a client exists. */
  const wanted = new Set<string>()

  async function start(attempt = 0): Promise<void> {
    if (client || stopped) return
    state.value = everConnected ? 'reconnecting' : 'connecting'
    let t
    try {
      t = await api.realtimeToken()
    } catch (err) {
      if (stopped) return
      lastError.value = err instanceof Error ? err.message : String(err)
      if (err instanceof ApiError && err.status === 401) {
        state.value = 'failed'
        return
      }
      // The gateway or Centrifugo's token issuer is down: try again with back-off.
      state.value = 'reconnecting'
      const delay = Math.min(15_000, 500 * 2 ** attempt)
      startTimer = setTimeout(() => void start(attempt + 1), delay)
      return
    }
    if (stopped) return
    const c = factory(t.url, {
      token: t.token,
      getToken: async () => {
        try {
          return (await api.realtimeToken()).token
        } catch (err) {
          throw sdkError(err)
        }
      },
    })
    client = c
    c.on('connecting', () => {
      state.value = everConnected ? 'reconnecting' : 'connecting'
    })
    c.on('connected', () => {
      everConnected = true
      lastError.value = null
      state.value = 'connected'
    })
    c.on('disconnected', (ctx: { reason?: string }) => {
      if (stopped) return
      state.value = 'failed'
      lastError.value = ctx?.reason ?? 'disconnected'
    })
    c.on('error', (ctx: { error?: { message?: string } }) => {
      lastError.value = ctx?.error?.message ?? 'connection error'
    })
    personalChannel.value = t.personal_channel
    wanted.add(t.personal_channel)
    handlers.onPersonalChannel?.(t.personal_channel)
    for (const ch of wanted) subscribe(ch)
    c.connect()
  }

  function subscribe(channel: string): void {
    if (!client || subs.has(channel)) return
    const sub = client.newSubscription(channel, {
      getToken: async (ctx) => {
        try {
          return (await api.subscriptionToken(ctx.channel)).token
        } catch (err) {
          throw sdkError(err)
        }
      },
    })
    let subscribedBefore = false
    sub.on('publication', (ctx: { data: unknown }) => {
      const pub = parsePublication(ctx.data)
      if (pub) handlers.onPublication(channel, pub)
    })
    sub.on('subscribed', (ctx: { wasRecovering?: boolean; recovered?: boolean }) => {
      if (ctx.wasRecovering && !ctx.recovered) handlers.onResync?.(channel, 'recovery-failed')
      else if (!subscribedBefore && !ctx.wasRecovering) handlers.onResync?.(channel, 'first-subscribe')
      subscribedBefore = true
    })
    subs.set(channel, sub)
    sub.subscribe()
  }

  function unsubscribe(channel: string): void {
    const sub = subs.get(channel)
    if (!sub) return
    subs.delete(channel)
    sub.unsubscribe()
    client?.removeSubscription(sub)
  }

  /** Makes the chat subscriptions exactly these channels (the personal channel stays). */
  function setChannels(channels: Iterable<string>): void {
    const next = new Set(channels)
    if (personalChannel.value) next.add(personalChannel.value)
    for (const ch of Array.from(wanted)) {
      if (!next.has(ch)) {
        wanted.delete(ch)
        unsubscribe(ch)
      }
    }
    for (const ch of next) {
      if (!wanted.has(ch)) {
        wanted.add(ch)
        subscribe(ch)
      }
    }
  }

  function stop(): void {
    stopped = true
    if (startTimer) clearTimeout(startTimer)
    for (const ch of Array.from(subs.keys())) unsubscribe(ch)
    wanted.clear()
    client?.disconnect()
    client = null
    state.value = 'idle'
  }

  onScopeDispose(stop)

  return {
    state,
    lastError,
    personalChannel,
    start: () => start(),
    stop,
    setChannels,
    /** Channels with a live subscription object (for tests and diagnostics). */
    subscribedChannels: () => Array.from(subs.keys()),
  }
}

export type Realtime = ReturnType<typeof useRealtime>
