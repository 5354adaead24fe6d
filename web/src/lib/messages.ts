import type { Message } from '../api/types'

/**
 * Merges messages into a list kept ascending by id with no id twice.
 * The same message may reach the client several times — from a history page, from the
 * answer to its own send, from a realtime publication, from a recovery reload — and the
 * list must show it once. A later copy replaces an earlier one (so a planned edit event
 * can reuse this), but no new array is made when nothing changed, which keeps Vue from
 * re-rendering the pane for a duplicate publication.
 */
export function mergeMessages(list: readonly Message[], incoming: readonly Message[]): Message[] {
  if (incoming.length === 0) return list as Message[]
  const sorted = isAscendingUnique(incoming) ? incoming : uniqueAscending(incoming)
  if (list.length === 0) return sorted.slice()
  const first = list[0].id
  const last = list[list.length - 1].id
  // The two common cases, a newer page or publication and an older page, need no map.
  if (sorted[0].id > last) return list.concat(sorted)
  if (sorted[sorted.length - 1].id < first) return sorted.concat(list)

  const byId = new Map<number, Message>()
  for (const m of list) byId.set(m.id, m)
  let changed = false
  for (const m of sorted) {
    const old = byId.get(m.id)
    if (old === undefined || !sameMessage(old, m)) {
      byId.set(m.id, m)
      changed = true
    }
  }
  if (!changed) return list as Message[]
  return Array.from(byId.values()).sort((a, b) => a.id - b.id)
}

function sameMessage(a: Message, b: Message): boolean {
  return a === b || (a.text === b.text && a.sent_at === b.sent_at && a.author.id === b.author.id)
}

function isAscendingUnique(ms: readonly Message[]): boolean {
  for (let i = 1; i < ms.length; i++) if (ms[i].id <= ms[i - 1].id) return false
  return true
}

function uniqueAscending(ms: readonly Message[]): Message[] {
  const byId = new Map<number, Message>()
  for (const m of ms) byId.set(m.id, m)
  return Array.from(byId.values()).sort((a, b) => a.id - b.id)
}

/** Whether the list holds a message with this id (binary search; the list is ascending). */
export function hasMessage(list: readonly Message[], id: number): boolean {
  let lo = 0
  let hi = list.length - 1
  while (lo <= hi) {
    const mid = (lo + hi) >> 1
    const v = list[mid].id
    if (v === id) return true
    if (v < id) lo = mid + 1
    else hi = mid - 1
  }
  return false
}

/** Messages from others after the read position (what the badge counts), among those loaded. */
export function countUnread(list: readonly Message[], readMessageId: number, myId: number): number {
  let n = 0
  for (let i = list.length - 1; i >= 0 && list[i].id > readMessageId; i--) {
    if (list[i].author.id !== myId) n++
  }
  return n
}
