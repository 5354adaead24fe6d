import { onScopeDispose, ref } from 'vue'
import type { User } from '../api/types'
import { TypingBoard, TYPING_SHOW_MS } from '../lib/typing'

/**
 * Who is typing in each chat, live: `typing` publications of the chats' channels come in
 * through typing(), the people's messages through stopped(), and one timer ends each
 * indicator TYPING_SHOW_MS after the last publication. Reading users() inside a computed
 * or a template follows all three.
 */
export function useTyping(opts: { now?: () => number; showMs?: number } = {}) {
  const now = opts.now ?? Date.now
  const board = new TypingBoard(opts.showMs ?? TYPING_SHOW_MS)
  /** Bumped on every change of what is shown: the board itself is not reactive. */
  const version = ref(0)
  let timer: ReturnType<typeof setTimeout> | null = null

  function reschedule(): void {
    if (timer) clearTimeout(timer)
    timer = null
    const next = board.nextExpiry()
    if (next === null) return
    timer = setTimeout(() => {
      timer = null
      if (board.expire(now())) version.value++
      reschedule()
    }, Math.max(0, next - now()))
  }

  function typing(chatId: number, user: User): void {
    if (board.typing(chatId, user, now())) version.value++
    reschedule()
  }

  function stopped(chatId: number, userId: number): void {
    if (board.stopped(chatId, userId)) version.value++
    reschedule()
  }

  /** Who is typing in the chat, in the order they started. */
  function users(chatId: number): User[] {
    void version.value
    return board.users(chatId, now())
  }

  function clear(): void {
    board.clear()
    version.value++
    reschedule()
  }

  onScopeDispose(() => {
    if (timer) clearTimeout(timer)
  })

  return { typing, stopped, users, clear }
}

export type Typing = ReturnType<typeof useTyping>
