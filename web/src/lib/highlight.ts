// What a message search matched, to mark it in the results (docs/API.md "Search (1.1)"):
// every word of the query must begin a word of the message. Words are Unicode words
// (UAX #29), compared after NFKC normalisation and case folding, with Russian "ё" read
// as "е" — the server's storage/searchtext. The same rule here marks, in each word of
// the text that starts with one of the query's words, that starting part.

/** A word: letters of any script, with their combining marks, and digits (where Intl.Segmenter is missing). */
const WORD = /[\p{L}\p{M}\p{N}]+/gu
const HAS_WORD_CHAR = /[\p{L}\p{N}]/u

const segmenter = typeof Intl !== 'undefined' && 'Segmenter' in Intl ? new Intl.Segmenter(undefined, { granularity: 'word' }) : null

/** The words of a text, with where each starts: UAX #29 segments that hold a letter or a digit. */
function words(text: string): { word: string; index: number }[] {
  if (segmenter) {
    const out: { word: string; index: number }[] = []
    for (const s of segmenter.segment(text)) if (HAS_WORD_CHAR.test(s.segment)) out.push({ word: s.segment, index: s.index })
    return out
  }
  return Array.from(text.matchAll(WORD), (m) => ({ word: m[0], index: m.index ?? 0 }))
}

/**
 * The form two words are compared in: NFKC, then case folded — upper then lower case,
 * which folds as Unicode full case folding does where lower case alone would not
 * ("ß" → "ss", final "ς" → "σ") — and "ё" read as "е".
 */
export function foldWord(w: string): string {
  return w.normalize('NFKC').toUpperCase().toLowerCase().replace(/ё/g, 'е')
}

/** The query's words, folded, longest first (so a longer prefix wins where two match), without repeats. */
export function searchTerms(query: string): string[] {
  const terms = new Set<string>()
  for (const w of words(query)) terms.add(foldWord(w.word))
  return Array.from(terms).sort((a, b) => b.length - a.length)
}

export interface TextPart {
  text: string
  match: boolean
}

/**
 * How many code units at the start of `word` make up the folded `term`, or 0 when the
 * word does not start with it. Folding may change lengths ("İ" lowers to two code
 * units), so the original is walked character by character until its folded form
 * covers the term.
 */
function prefixLength(word: string, term: string): number {
  if (!foldWord(word).startsWith(term)) return 0
  let i = 0
  for (const ch of word) {
    i += ch.length
    if (foldWord(word.slice(0, i)).length >= term.length) return i
  }
  return word.length
}

/** The text cut into parts, the matched word starts marked; adjacent parts never share a kind. */
export function highlightParts(text: string, terms: readonly string[]): TextPart[] {
  const parts: TextPart[] = []
  const push = (t: string, match: boolean) => {
    if (!t) return
    const last = parts[parts.length - 1]
    if (last && last.match === match) last.text += t
    else parts.push({ text: t, match })
  }
  let pos = 0
  if (terms.length > 0) {
    for (const w of words(text)) {
      const start = w.index
      let len = 0
      for (const t of terms) {
        len = prefixLength(w.word, t)
        if (len > 0) break
      }
      if (len === 0) continue
      push(text.slice(pos, start), false)
      push(text.slice(start, start + len), true)
      pos = start + len
    }
  }
  push(text.slice(pos), false)
  return parts
}

/**
 * A one-line excerpt of a long text that shows its first match: the text from a little
 * before that match (at a word start, with "…" in front), newlines as spaces. The result
 * list shows one or two lines, so a match deep in a long message would otherwise be cut off.
 */
export function excerpt(text: string, terms: readonly string[], before = 30): string {
  const flat = text.replace(/\s+/g, ' ').trim()
  const parts = highlightParts(flat, terms)
  const first = parts.findIndex((p) => p.match)
  if (first < 0) return flat
  const at = parts.slice(0, first).reduce((n, p) => n + p.text.length, 0)
  if (at <= before) return flat
  // Start at a word boundary within the window before the match.
  const from = flat.lastIndexOf(' ', at - before) + 1
  const start = from > 0 && from < at ? from : at - before
  return '…' + flat.slice(start).trimStart()
}
