// Time labels, computed in the viewer's local time zone. Deterministic (no Intl locale
// lookups) so they read the same in every browser and in tests.

const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat']
const MONTHS_SHORT = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']
const MONTHS_LONG = [
  'January', 'February', 'March', 'April', 'May', 'June',
  'July', 'August', 'September', 'October', 'November', 'December',
]

const pad = (n: number) => (n < 10 ? '0' + n : String(n))

function toDate(t: string | Date): Date {
  return t instanceof Date ? t : new Date(t)
}

/** Midnight at the start of the local day of d. */
function startOfDay(d: Date): Date {
  return new Date(d.getFullYear(), d.getMonth(), d.getDate())
}

/** Whole calendar days from the day of a to the day of b (DST-safe). */
function calendarDaysBetween(a: Date, b: Date): number {
  const ua = Date.UTC(a.getFullYear(), a.getMonth(), a.getDate())
  const ub = Date.UTC(b.getFullYear(), b.getMonth(), b.getDate())
  return Math.round((ub - ua) / 86_400_000)
}

export function isSameDay(a: string | Date, b: string | Date): boolean {
  return calendarDaysBetween(toDate(a), toDate(b)) === 0
}

/** "14:05" */
export function formatClock(t: string | Date): string {
  const d = toDate(t)
  return `${pad(d.getHours())}:${pad(d.getMinutes())}`
}

/**
 * The time shown on the right of a chat in the chat list, like Telegram:
 * the clock time for today, the weekday within the last six days, the date otherwise
 * ("27 Nov" this year, "27.11.24" in another year). A time slightly in the future
 * (clock skew) on another day shows as a date.
 */
export function formatListTime(t: string | Date, now: Date = new Date()): string {
  const d = toDate(t)
  if (Number.isNaN(d.getTime())) return ''
  const days = calendarDaysBetween(d, now)
  if (days === 0) return formatClock(d)
  if (days > 0 && days < 7) return WEEKDAYS[d.getDay()]
  if (d.getFullYear() === now.getFullYear()) return `${d.getDate()} ${MONTHS_SHORT[d.getMonth()]}`
  return `${pad(d.getDate())}.${pad(d.getMonth() + 1)}.${pad(d.getFullYear() % 100)}`
}

/** The label of a day separator in the message pane: "Today", "Yesterday", "27 November", "27 November 2024". */
export function formatDayLabel(t: string | Date, now: Date = new Date()): string {
  const d = toDate(t)
  const days = calendarDaysBetween(d, now)
  if (days === 0) return 'Today'
  if (days === 1) return 'Yesterday'
  const base = `${d.getDate()} ${MONTHS_LONG[d.getMonth()]}`
  return d.getFullYear() === now.getFullYear() ? base : `${base} ${d.getFullYear()}`
}

/** Full date and time for a tooltip. */
export function formatFull(t: string | Date): string {
  const d = toDate(t)
  return `${d.getDate()} ${MONTHS_LONG[d.getMonth()]} ${d.getFullYear()}, ${formatClock(d)}`
}

export { startOfDay }
