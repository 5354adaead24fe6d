/**
 * The direction of a text by its first strong character, the rule the browser applies to
 * dir="auto" (Unicode's P2/P3). The bubble needs it in script as well: the time sits at
 * the end of the last line, which is the left for right-to-left text, and CSS cannot
 * ask a child's resolved direction from its parent (`:has(:dir(rtl))` does not match in
 * Chromium).
 */
const STRONG = /[\p{L}\p{Nl}]/u
const RTL = /[\u0590-\u08FF\uFB1D-\uFDFF\uFE70-\uFEFF\u{10800}-\u{10FFF}\u{1E800}-\u{1EFFF}]/u

export function textDirection(text: string): 'ltr' | 'rtl' {
  for (const ch of text) {
    if (RTL.test(ch)) return 'rtl'
    if (STRONG.test(ch)) return 'ltr'
  }
  return 'ltr'
}
