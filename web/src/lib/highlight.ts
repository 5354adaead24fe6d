// What a message search matched, to mark it in the results (API.md 1.1 "Search"): the
// server finds whole words and word prefixes of the text, in any script, without regard
// to case. The same rule here marks, in each word of the text that starts with one of
// the query's words, that starting part.

/** A word: letters of any script, with their combining marks, and digits. */
const WORD = /[\p{L}\p{M}\p{N}]+/gu

/** The form two words are compared in: case folded, canonical composition. */
export function foldWord(w: string): string {
  return w.normalize('NFC').toLowerCase()
}

/** The query's words, folded, longest first (so a longer prefix wins where two match), without repeats. */
export function searchTerms(query: string): string[] {
  const terms = new Set<string>()
  for (const m of query.matchAll(WORD)) terms.add(foldWord(m[0]))
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
    for (const m of text.matchAll(WORD)) {
      const start = m.index ?? 0
      let len = 0
      for (const t of terms) {
        len = prefixLength(m[0], t)
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
