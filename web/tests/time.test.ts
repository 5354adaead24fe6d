import { describe, expect, it } from 'vitest'
import { formatClock, formatDayLabel, formatListTime, isSameDay } from '../src/lib/time'

// Local times, so the tests hold in any time zone. Friday 27 November 2026, 15:30.
const now = new Date(2026, 10, 27, 15, 30)
const at = (y: number, mo: number, d: number, h = 12, mi = 0) => new Date(y, mo - 1, d, h, mi)

describe('formatListTime', () => {
  it('shows the clock time today, zero-padded', () => {
    expect(formatListTime(at(2026, 11, 27, 9, 5), now)).toBe('09:05')
    expect(formatListTime(at(2026, 11, 27, 0, 0), now)).toBe('00:00')
    expect(formatListTime(at(2026, 11, 27, 23, 59), now)).toBe('23:59')
  })

  it('shows the weekday within the last six days', () => {
    expect(formatListTime(at(2026, 11, 26, 23, 59), now)).toBe('Thu')
    expect(formatListTime(at(2026, 11, 21), now)).toBe('Sat')
  })

  it('shows the date from a week back', () => {
    expect(formatListTime(at(2026, 11, 20), now)).toBe('20 Nov')
    expect(formatListTime(at(2026, 1, 3), now)).toBe('3 Jan')
  })

  it('adds the year for another year', () => {
    expect(formatListTime(at(2025, 12, 31), now)).toBe('31.12.25')
    expect(formatListTime(at(2024, 3, 7), new Date(2025, 0, 2))).toBe('07.03.24')
  })

  it('shows a date for a time on a later day (clock skew), the clock for later today', () => {
    expect(formatListTime(at(2026, 11, 28, 1), now)).toBe('28 Nov')
    expect(formatListTime(at(2026, 11, 27, 16, 0), now)).toBe('16:00')
  })

  it('accepts the API’s RFC 3339 strings', () => {
    const iso = at(2026, 11, 27, 8, 7).toISOString()
    expect(formatListTime(iso, now)).toBe('08:07')
    expect(formatListTime('not a time', now)).toBe('')
  })
})

describe('day labels and clock', () => {
  it('labels days like a messenger', () => {
    expect(formatDayLabel(at(2026, 11, 27, 1), now)).toBe('Today')
    expect(formatDayLabel(at(2026, 11, 26, 23), now)).toBe('Yesterday')
    expect(formatDayLabel(at(2026, 11, 2), now)).toBe('2 November')
    expect(formatDayLabel(at(2025, 11, 2), now)).toBe('2 November 2025')
  })

  it('compares calendar days, not 24 hour spans', () => {
    expect(isSameDay(at(2026, 11, 27, 0, 1), at(2026, 11, 27, 23, 59))).toBe(true)
    expect(isSameDay(at(2026, 11, 26, 23, 59), at(2026, 11, 27, 0, 1))).toBe(false)
    expect(formatClock(at(2026, 1, 1, 7, 3))).toBe('07:03')
  })
})
