import type { Publication } from '../api/types'

export type ChatEvent =
  | { kind: 'publication'; pub: Publication }
  /** The chat may have missed publications (the update stream started over): reload what follows the newest message. */
  | { kind: 'resync'; reason: 'stream-reset' }

type Listener = (ev: ChatEvent) => void

/**
 * Routes the chat-scoped updates of the user's stream to whoever shows that chat right
 * now (the open chat pane), by chat id: the stream is one channel for every chat, so the
 * chat id in the update is the only address there is. The connection outlives panes;
 * listeners come and go.
 */
export class ChatHub {
  private listeners = new Map<number, Set<Listener>>()

  on(chatId: number, fn: Listener): () => void {
    let set = this.listeners.get(chatId)
    if (!set) {
      set = new Set()
      this.listeners.set(chatId, set)
    }
    set.add(fn)
    return () => {
      set.delete(fn)
      if (set.size === 0) this.listeners.delete(chatId)
    }
  }

  emit(chatId: number, ev: ChatEvent): void {
    const set = this.listeners.get(chatId)
    if (set) for (const fn of Array.from(set)) fn(ev)
  }

  /** To every chat shown (after the stream started over). */
  broadcast(ev: ChatEvent): void {
    for (const id of Array.from(this.listeners.keys())) this.emit(id, ev)
  }
}
