// Marking what a message search matched: whole words and word prefixes, in any script,
// without regard to case (API 1.1 "Search").
import { describe, expect, it } from 'vitest'
import { excerpt, highlightParts, searchTerms } from '../src/lib/highlight'

/** The text with each match in [brackets]. */
function marked(text: string, query: string): string {
  return highlightParts(text, searchTerms(query)).map((p) => (p.match ? `[${p.text}]` : p.text)).join('')
}

describe('searchTerms', () => {
  it('takes the words of the query, folded, longest first, once each', () => {
    expect(searchTerms('  Hello, WORLD! hello ')).toEqual(['hello', 'world'])
    expect(searchTerms('кВаЗар')).toEqual(['квазар'])
    expect(searchTerms('a abc ab')).toEqual(['abc', 'ab', 'a'])
    expect(searchTerms('?!  …')).toEqual([])
  })
})

describe('highlightParts', () => {
  it('marks whole words and the start of words, in any case', () => {
    expect(marked('Hello world, hello again', 'hello')).toBe('[Hello] world, [hello] again')
    expect(marked('Helicopters help', 'hel')).toBe('[Hel]icopters [hel]p')
    expect(marked('HELLO', 'hello')).toBe('[HELLO]')
  })

  it('never marks the middle or the end of a word', () => {
    expect(marked('shell michelle', 'hel')).toBe('shell michelle')
    expect(marked('квазары и сквазар', 'вазар')).toBe('квазары и сквазар')
  })

  it('works in Cyrillic and other scripts', () => {
    expect(marked('Квазары далеко, квазар близко', 'квазар')).toBe('[Квазар]ы далеко, [квазар] близко')
    expect(marked('ΚΑΛΗΜΕΡΑ κόσμε', 'καλη')).toBe('[ΚΑΛΗ]ΜΕΡΑ κόσμε')
    expect(marked('日本語 テキスト', 'テキ')).toBe('日本語 [テキ]スト')
  })

  it('marks each word of the query, the longest matching prefix winning', () => {
    expect(marked('red roses, rather red', 'red ro')).toBe('[red] [ro]ses, rather [red]')
    expect(marked('abcdef', 'ab abcd')).toBe('[abcd]ef')
  })

  it('keeps the original text, whatever case folding does to lengths', () => {
    // "İ" lowers to "i" + a combining dot: two code units for one.
    expect(marked('İstanbul and Izmir', 'i̇st')).toBe('[İst]anbul and Izmir')
    const text = 'Ünïcödé words'
    expect(highlightParts(text, searchTerms('ÜNÏ')).map((p) => p.text).join('')).toBe(text)
  })

  it('folds as the server does: ё as е, ß as ss, compatibility forms as their letters', () => {
    expect(marked('Ёлка и елка', 'елк')).toBe('[Ёлк]а и [елк]а')
    expect(marked('ёжик', 'Ё')).toBe('[ё]жик')
    expect(marked('Straße', 'STRASS')).toBe('[Straß]e')
    expect(marked('ＦＵＬＬ width', 'full')).toBe('[ＦＵＬＬ] width')
  })

  it('words next to punctuation and digits', () => {
    expect(marked('(release-2026) notes; release', 'release')).toBe('([release]-2026) notes; [release]')
    // UAX #29, as on the server: a colon between letters joins them into one word.
    expect(marked('notes:release', 'release')).toBe('notes:release')
    expect(marked('version 2026.1', '2026')).toBe('version [2026].1')
  })

  it('with no terms, the text is one unmarked part', () => {
    expect(highlightParts('anything', [])).toEqual([{ text: 'anything', match: false }])
    expect(highlightParts('', ['a'])).toEqual([])
  })
})

describe('excerpt', () => {
  it('keeps a short text whole, newlines as spaces', () => {
    expect(excerpt('first line\nsecond line', searchTerms('second'))).toBe('first line second line')
  })

  it('starts a long text shortly before its first match, at a word', () => {
    const long = 'one two three four five six seven eight nine ten eleven twelve thirteen quasar fourteen'
    const e = excerpt(long, searchTerms('quasar'))
    expect(e.startsWith('…')).toBe(true)
    expect(e).toContain('quasar fourteen')
    expect(e.length).toBeLessThan(long.length)
    // Starts at a word: no cut word after the ellipsis.
    expect(long.split(' ')).toContain(e.slice(1).split(' ')[0])
  })

  it('a text without a match is kept from its start', () => {
    expect(excerpt('nothing here', searchTerms('zzz'))).toBe('nothing here')
  })
})
