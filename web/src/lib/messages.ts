import type { Message } from '../api/types'

/**
 * Merges messages into a list kept ascending by id with no id twice.
 * The same message may reach the client several times — from a history page, from the
 * answer to its own send, from a realtime publication, from a recovery reload — and the
 * list must show it once. A later copy replaces an earlier one, except one that predates
 * an edit the list already shows (a history page that was on its way when the edit was
 * published); no new array is made when nothing changed, which keeps Vue from
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
    if (old === undefined || (!sameMessage(old, m) && !olderEdit(m, old))) {
      byId.set(m.id, m)
      changed = true
    }
  }
  if (!changed) return list as Message[]
  return Array.from(byId.values()).sort((a, b) => a.id - b.id)
}

function sameMessage(a: Message, b: Message): boolean {
  return (
    a === b ||
    (a.text === b.text && a.sent_at === b.sent_at && a.author.id === b.author.id &&
      (a.edited_at ?? null) === (b.edited_at ?? null) && (a.reply_to?.text ?? null) === (b.reply_to?.text ?? null))
  )
}

/** Whether copy m is from before the edit that `shown` already has. */
function olderEdit(m: Message, shown: Message): boolean {
  if (!shown.edited_at) return false
  return !m.edited_at || m.edited_at < shown.edited_at
}

/** The first 200 code points, as a MessageRef quotes a text (API.md 1.1). */
export function quoteText(text: string): string {
  return Array.from(text).slice(0, 200).join('')
}

/**
 * An edit (publication, answer, or the user's own optimistic one): the message with that
 * id becomes msg — whatever the copy shown, since edits reach the pane in order — and
 * quotes of it in replies show the new text. Messages not loaded are not added.
 */
export function applyEdit(list: readonly Message[], msg: Message): Message[] {
  let changed = false
  const out = list.map((m) => {
    if (m.id === msg.id) {
      changed = true
      return msg
    }
    if (m.reply_to && m.reply_to.id === msg.id) {
      changed = true
      return { ...m, reply_to: { ...m.reply_to, text: quoteText(msg.text) } }
    }
    return m
  })
  return changed ? out : (list as Message[])
}

/** Drops message id from the list (the same array when it is not there). */
export function removeMessage(list: readonly Message[], id: number): Message[] {
  const out = list.filter((m) => m.id !== id)
  return out.length === list.length ? (list as Message[]) : out
}

/** Message id was deleted for everyone: replies to it quote "" (shown as "Deleted message"). */
export function blankQuotesOf(list: readonly Message[], id: number): Message[] {
  if (!list.some((m) => m.reply_to?.id === id && m.reply_to.text !== '')) return list as Message[]
  return list.map((m) => (m.reply_to?.id === id ? { ...m, reply_to: { ...m.reply_to, text: '' } } : m))
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
