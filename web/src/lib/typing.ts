import type { User } from '../api/types'

// Typing indicators (API.md 1.1 "Typing and presence"): `typing` publications on a chat's
// channel say that someone is writing there. They are ephemeral: nothing says that the
// person stopped, so an indicator ends by itself a while after the last one, or as soon
// as that person's message arrives.

/** An indicator ends this long after the last `typing` of that person in that chat. */
export const TYPING_SHOW_MS = 5_000
/** The server publishes at most one `typing` per user and chat every 3 s; the client sends no more often. */
export const TYPING_SEND_INTERVAL_MS = 3_000

interface Typist {
  user: User
  until: number
}

/**
 * Who is typing in which chat, as of a given time. Plain data with the time passed in,
 * so that the rules are tested without timers; useTyping drives it with a clock.
 */
export class TypingBoard {
  private chats = new Map<number, Map<number, Typist>>()

  constructor(private readonly showMs = TYPING_SHOW_MS) {}

  /** A `typing` publication arrived. Returns whether what is shown changed. */
  typing(chatId: number, user: User, now: number): boolean {
    let chat = this.chats.get(chatId)
    if (!chat) {
      chat = new Map()
      this.chats.set(chatId, chat)
    }
    const old = chat.get(user.id)
    // Re-inserting would move them to the end: the first to type stays named first.
    if (old) {
      old.until = now + this.showMs
      const renamed = old.user.name !== user.name
      old.user = user
      return renamed
    }
    chat.set(user.id, { user, until: now + this.showMs })
    return true
  }

  /** That person's message arrived in the chat (or they left it): they are no longer typing. */
  stopped(chatId: number, userId: number): boolean {
    const chat = this.chats.get(chatId)
    if (!chat?.delete(userId)) return false
    if (chat.size === 0) this.chats.delete(chatId)
    return true
  }

  /** Drops every indicator whose time is over. Returns whether any was dropped. */
  expire(now: number): boolean {
    let changed = false
    for (const [chatId, chat] of this.chats) {
      for (const [userId, t] of chat) {
        if (t.until <= now) {
          chat.delete(userId)
          changed = true
        }
      }
      if (chat.size === 0) this.chats.delete(chatId)
    }
    return changed
  }

  /** When the next indicator ends (for one timer), or null when nobody is typing. */
  nextExpiry(): number | null {
    let next: number | null = null
    for (const chat of this.chats.values()) for (const t of chat.values()) if (next === null || t.until < next) next = t.until
    return next
  }

  /** Who is typing in the chat at `now`, in the order they started. */
  users(chatId: number, now: number): User[] {
    const chat = this.chats.get(chatId)
    if (!chat) return []
    const out: User[] = []
    for (const t of chat.values()) if (t.until > now) out.push(t.user)
    return out
  }

  clear(): void {
    this.chats.clear()
  }
}

/** "Alice is typing…", "Alice and Bob are typing…", "Alice and 2 others are typing…"; null for nobody. */
export function typingLabel(names: readonly string[]): string | null {
  if (names.length === 0) return null
  if (names.length === 1) return `${names[0]} is typing…`
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`
  return `${names[0]} and ${names.length - 1} others are typing…`
}

/**
 * Whether a change of the composer should be told to the chat now: at most once every
 * `intervalMs` (the server would publish no more often anyway, and each call is a
 * request). The first change sends at once, so the other side sees it without delay.
 */
export class TypingThrottle {
  private last = -Infinity

  constructor(private readonly intervalMs = TYPING_SEND_INTERVAL_MS) {}

  shouldSend(now: number): boolean {
    if (now - this.last < this.intervalMs) return false
    this.last = now
    return true
  }
}
