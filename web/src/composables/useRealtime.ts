import { onScopeDispose, ref, shallowRef } from 'vue'
import { Centrifuge, UnauthorizedError } from 'centrifuge'
import type { Api } from '../api/client'
import { ApiError } from '../api/client'

/**
 * The one owner of the Centrifugo connection: it connects with a token from the API,
 * subscribes the user's personal channel — the only one it needs, whatever the number of
 * chats, since every change the user sees is published there with a cursor (API.md
 * "Per-user updates (1.1)") — refreshes tokens through the SDK's getToken callbacks,
 * reports the connection state, and tears everything down when its scope ends.
 *
 * Recovery: the personal channel has history with forced recovery, so after a reconnect
 * the SDK replays what was missed. Whenever a subscription did not recover — the server
 * says it could not (wasRecovering && !recovered), it is the first one (what was
 * published between taking the cursor and subscribing was not delivered), or a
 * resubscription did not even try — onCatchUp is called: the update stream then asks
 * GET /updates from its cursor, which costs one request when nothing was missed.
 *
 * Chat channels (API 1.1 "Typing and presence"): typing and presence are ephemeral and
 * published only on a chat's channel, so whoever shows them asks for that channel with
 * watchChannel while it is on screen, and lets go of it after. One subscription serves
 * every watcher of a channel; it ends when the last one lets go.
 */

/** One interest in a chat channel's publications (see watchChannel). */
export interface ChannelWatcher {
  onPublication: (data: unknown) => void
  /** Subscribed, the first time or again after a reconnect: what was missed is not replayed for ephemeral signals. */
  onSubscribed?: () => void
}

export type ConnectionState = 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'failed'

export interface RealtimeHandlers {
  /** A publication's data on the personal channel, unparsed (the update stream reads it). */
  onUpdate: (data: unknown) => void
  /** Publications may have been missed; fetch what follows the cursor (reason says why). */
  onCatchUp?: (reason: 'first-subscribe' | 'recovery-failed' | 'not-recovered') => void
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
  let sub: RealtimeSubscription | null = null
  /** Chat channels someone watches, and their subscription once there is a client. */
  const watched = new Map<string, { watchers: Set<ChannelWatcher>; sub: RealtimeSubscription | null }>()

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
    subscribePersonal(t.personal_channel)
    for (const [channel, entry] of watched) if (!entry.sub) entry.sub = subscribeWatched(channel, entry.watchers)
    c.connect()
  }

  function tokenFor(ctx: { channel: string }): Promise<string> {
    return api.subscriptionToken(ctx.channel).then(
      (t) => t.token,
      (err) => {
        throw sdkError(err)
      },
    )
  }

  function subscribeWatched(channel: string, watchers: Set<ChannelWatcher>): RealtimeSubscription | null {
    if (!client) return null
    const s = client.newSubscription(channel, { getToken: tokenFor })
    s.on('publication', (ctx: { data: unknown }) => {
      for (const w of Array.from(watchers)) w.onPublication(ctx.data)
    })
    s.on('subscribed', () => {
      for (const w of Array.from(watchers)) w.onSubscribed?.()
    })
    s.subscribe()
    return s
  }

  /**
   * Subscribes a chat channel for as long as someone watches it; returns the function
   * that stops watching (the last one to stop ends the subscription). Before the
   * connection exists the wish is kept and fulfilled when it does.
   */
  function watchChannel(channel: string, watcher: ChannelWatcher): () => void {
    let entry = watched.get(channel)
    if (!entry) {
      entry = { watchers: new Set(), sub: null }
      watched.set(channel, entry)
    }
    const e = entry
    e.watchers.add(watcher)
    if (!e.sub && client && !stopped) e.sub = subscribeWatched(channel, e.watchers)
    let done = false
    return () => {
      if (done) return
      done = true
      e.watchers.delete(watcher)
      if (e.watchers.size > 0 || watched.get(channel) !== e) return
      watched.delete(channel)
      if (e.sub) {
        e.sub.unsubscribe()
        client?.removeSubscription(e.sub)
        e.sub = null
      }
    }
  }

  function subscribePersonal(channel: string): void {
    if (!client || sub) return
    // The personal channel needs a subscription token too (as chat channels did).
    const s = client.newSubscription(channel, {
      getToken: async (ctx) => {
        try {
          return (await api.subscriptionToken(ctx.channel)).token
        } catch (err) {
          throw sdkError(err)
        }
      },
    })
    let subscribedBefore = false
    s.on('publication', (ctx: { data: unknown }) => handlers.onUpdate(ctx.data))
    s.on('subscribed', (ctx: { wasRecovering?: boolean; recovered?: boolean }) => {
      if (!ctx.recovered) {
        handlers.onCatchUp?.(!subscribedBefore ? 'first-subscribe' : ctx.wasRecovering ? 'recovery-failed' : 'not-recovered')
      }
      subscribedBefore = true
    })
    sub = s
    s.subscribe()
  }

  function stop(): void {
    stopped = true
    if (startTimer) clearTimeout(startTimer)
    if (sub) {
      sub.unsubscribe()
      client?.removeSubscription(sub)
      sub = null
    }
    for (const entry of watched.values()) {
      if (!entry.sub) continue
      entry.sub.unsubscribe()
      client?.removeSubscription(entry.sub)
      entry.sub = null
    }
    watched.clear()
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
    watchChannel,
    /** Channels with a live subscription object (for tests and diagnostics). */
    subscribedChannels: () => [
      ...(sub ? [sub.channel] : []),
      ...Array.from(watched.values()).flatMap((e) => (e.sub ? [e.sub.channel] : [])),
    ],
  }
}

export type Realtime = ReturnType<typeof useRealtime>
