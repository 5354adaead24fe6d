import type { Message } from '../api/types'

/**
 * Where the "new messages" divider goes: before the first loaded message written by
 * someone else with an id above the read position the chat had when it was opened.
 *
 * The baseline is fixed at opening so the divider does not run away while the user
 * reads; it is null when nothing was unread then (no divider at all). Because it is an
 * id and not a list index, loading older pages moves the divider to the right place.
 */
export function unreadDividerId(
  messages: readonly Message[],
  baseline: number | null,
  myId: number,
): number | null {
  if (baseline === null) return null
  // The first message above the baseline: binary search, then skip own messages.
  let lo = 0
  let hi = messages.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (messages[mid].id > baseline) hi = mid
    else lo = mid + 1
  }
  for (let i = lo; i < messages.length; i++) {
    if (messages[i].author.id !== myId) return messages[i].id
  }
  return null
}

/**
 * The baseline to remember when a chat is opened: its read position if anything in it
 * was unread, otherwise null.
 */
export function dividerBaseline(unreadCount: number, readMessageId: number): number | null {
  return unreadCount > 0 ? readMessageId : null
}

/**
 * How many messages to ask for when opening a chat: enough that the first unread
 * message, and some context above it, is in the first page (within the API's 1..200).
 */
export function initialPageSize(unreadCount: number, base = 50, max = 200): number {
  return Math.max(base, Math.min(max, unreadCount + 20))
}

/**
 * Messages of others arrived below the view while the user reads above (afterId: the
 * newest message before them). The "new messages" divider goes after the newest message
 * the user has seen (seenUpTo), and never past the arrivals — unless the divider already
 * stands further down, before something the user has not reached yet.
 */
export function baselineOnArrival(baseline: number | null, afterId: number, seenUpTo: number): number {
  const seen = Math.min(seenUpTo, afterId)
  if (baseline !== null && baseline >= seen) return baseline
  return seen > 0 ? seen : afterId
}
