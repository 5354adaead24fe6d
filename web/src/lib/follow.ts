import type { Message } from '../api/types'
import type { OutgoingMessage } from './outbox'

/**
 * What the message pane does with its scroll position when its content changes: follow
 * the newest message, or stay where the user is reading and count what came below.
 *
 * The pane compares what it rendered last time with what it renders now. Both must be
 * taken from the data, not from the DOM in onBeforeUpdate: by the time Vue calls that
 * hook the props (and every computed built on them) are already the new ones, so a
 * snapshot taken there saw no change at all — the bug that left new messages below
 * the visible area.
 */
export interface Rendered {
  firstId: number | undefined
  lastId: number
  /** The last row's key: a message id or an outgoing client_id. */
  lastKey: string | undefined
  /** client_ids of the user's unsent messages on screen. */
  outgoing: ReadonlySet<string>
}

export function rendered(messages: readonly Message[], outgoing: readonly OutgoingMessage[]): Rendered {
  const last = messages[messages.length - 1]
  const lastOut = outgoing[outgoing.length - 1]
  return {
    firstId: messages[0]?.id,
    lastId: last?.id ?? 0,
    lastKey: lastOut ? 'o:' + lastOut.clientId : last ? 'm:' + last.id : undefined,
    outgoing: new Set(outgoing.map((o) => o.clientId)),
  }
}

export interface FollowDecision {
  /** 'bottom': scroll to the newest message; 'keep': keep what the user looks at in place. */
  scroll: 'bottom' | 'keep'
  /** Messages of others that arrived below the view (for the jump button's counter). */
  arrivedBelow: number
  /** Older messages were inserted above (the pane may want yet another page). */
  prepended: boolean
}

/**
 * - The user's own new send always scrolls to it, wherever the view was.
 * - Anything appended while the view was at the bottom scrolls into view.
 * - Anything appended while the user reads above stays below; messages of others count.
 */
export function follow(
  prev: Rendered,
  next: Rendered,
  messages: readonly Message[],
  wasAtBottom: boolean,
  myId: number,
): FollowDecision {
  const prepended = prev.firstId !== undefined && next.firstId !== prev.firstId
  const appended = next.lastKey !== prev.lastKey && next.lastId >= prev.lastId
  let ownSend = false
  for (const id of next.outgoing) if (!prev.outgoing.has(id)) ownSend = true
  if (ownSend || (appended && wasAtBottom)) return { scroll: 'bottom', arrivedBelow: 0, prepended }
  let arrivedBelow = 0
  if (appended) {
    for (let i = messages.length - 1; i >= 0 && messages[i].id > prev.lastId; i--) {
      if (messages[i].author.id !== myId) arrivedBelow++
    }
  }
  return { scroll: 'keep', arrivedBelow, prepended }
}
