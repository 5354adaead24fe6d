import { describe, expect, it } from 'vitest'
import { textDirection } from '../src/lib/direction'

describe('text direction by the first strong character', () => {
  it('Hebrew and Arabic are right to left, Latin and Cyrillic left to right', () => {
    expect(textDirection('שלום')).toBe('rtl')
    expect(textDirection('مرحبا')).toBe('rtl')
    expect(textDirection('hello')).toBe('ltr')
    expect(textDirection('привет')).toBe('ltr')
  })

  it('digits, punctuation and emoji do not decide; the first letter does', () => {
    expect(textDirection('12:30 — שלום')).toBe('rtl')
    expect(textDirection('👋 hi שלום')).toBe('ltr')
    expect(textDirection('123')).toBe('ltr')
    expect(textDirection('')).toBe('ltr')
  })
})
