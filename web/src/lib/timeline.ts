import type { Message } from '../api/types'
import type { OutgoingMessage } from './outbox'
import { formatDayLabel, isSameDay } from './time'

/** One row of the message pane. */
export type TimelineRow =
  | { kind: 'day'; key: string; label: string }
  | { kind: 'divider'; key: 'divider' }
  | {
      kind: 'message'
      key: string
      message: Message
      own: boolean
      showAuthor: boolean
      /** The last of a run of one author's messages: in a group, their avatar goes beside it (as in Telegram). */
      lastOfRun: boolean
    }
  | { kind: 'outgoing'; key: string; outgoing: OutgoingMessage }

/** Consecutive messages of one author within this span form one group (one name shown). */
const GROUP_SPAN_MS = 5 * 60_000

/**
 * Lays out the pane: a separator at each new day, the "new messages" divider before
 * dividerId, author names at the start of each run of one author's messages (and the
 * run's last message marked, for the author's avatar), and the
 * user's unsent messages at the end (they have no id yet).
 */
export function buildTimeline(
  messages: readonly Message[],
  outgoing: readonly OutgoingMessage[],
  myId: number,
  dividerId: number | null,
  now: Date = new Date(),
): TimelineRow[] {
  const rows: TimelineRow[] = []
  let prev: Message | null = null
  let lastRow: Extract<TimelineRow, { kind: 'message' }> | null = null
  for (const m of messages) {
    const newDay = !prev || !isSameDay(prev.sent_at, m.sent_at)
    if (newDay) rows.push({ kind: 'day', key: 'day:' + dayKey(m.sent_at), label: formatDayLabel(m.sent_at, now) })
    const divider = m.id === dividerId
    if (divider) rows.push({ kind: 'divider', key: 'divider' })
    const own = m.author.id === myId
    const startsRun = newDay || divider || !prev || prev.author.id !== m.author.id ||
      Date.parse(m.sent_at) - Date.parse(prev.sent_at) > GROUP_SPAN_MS
    // A run that starts here ends the one before it.
    if (startsRun && lastRow) lastRow.lastOfRun = true
    lastRow = { kind: 'message', key: 'm:' + m.id, message: m, own, showAuthor: !own && startsRun, lastOfRun: false }
    rows.push(lastRow)
    prev = m
  }
  if (lastRow) lastRow.lastOfRun = true
  if (outgoing.length) {
    const last = prev
    const first = outgoing[0]
    if (!last || !isSameDay(last.sent_at, first.createdAt)) {
      rows.push({ kind: 'day', key: 'day:' + dayKey(first.createdAt), label: formatDayLabel(first.createdAt, now) })
    }
    for (const o of outgoing) rows.push({ kind: 'outgoing', key: 'o:' + o.clientId, outgoing: o })
  }
  return rows
}

function dayKey(t: string): string {
  const d = new Date(t)
  return `${d.getFullYear()}-${d.getMonth() + 1}-${d.getDate()}`
}
