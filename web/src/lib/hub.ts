import type { Publication } from '../api/types'

export type ChannelEvent =
  | { kind: 'publication'; pub: Publication }
  /** The channel may have missed publications; reload its data from the HTTP API. */
  | { kind: 'resync'; reason: 'first-subscribe' | 'recovery-failed' }

type Listener = (ev: ChannelEvent) => void

/**
 * Routes realtime events of a channel to whoever shows that channel's data right now
 * (the open chat pane). The connection outlives panes; listeners come and go.
 */
export class ChannelHub {
  private listeners = new Map<string, Set<Listener>>()

  on(channel: string, fn: Listener): () => void {
    let set = this.listeners.get(channel)
    if (!set) {
      set = new Set()
      this.listeners.set(channel, set)
    }
    set.add(fn)
    return () => {
      set.delete(fn)
      if (set.size === 0) this.listeners.delete(channel)
    }
  }

  emit(channel: string, ev: ChannelEvent): void {
    const set = this.listeners.get(channel)
    if (set) for (const fn of Array.from(set)) fn(ev)
  }
}
