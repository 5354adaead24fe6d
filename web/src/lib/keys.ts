/**
 * What Enter does in the composer, as in Telegram: on a desktop Enter sends and
 * Shift+Enter starts a new line; on a touch screen (a coarse pointer, no hardware
 * keyboard to speak of) Enter is the on-screen keyboard's new line and the send button
 * sends — Ctrl/Cmd+Enter still sends, for a tablet with a keyboard. Enter that confirms
 * an IME composition (keyCode 229 in Chrome) is neither.
 */
export type EnterAction = 'send' | 'newline' | 'none'

export interface KeyLike {
  key: string
  shiftKey: boolean
  ctrlKey: boolean
  metaKey: boolean
  isComposing: boolean
  keyCode: number
}

export function enterAction(e: KeyLike, touch: boolean): EnterAction {
  if (e.key !== 'Enter') return 'none'
  if (e.isComposing || e.keyCode === 229) return 'none'
  if (e.ctrlKey || e.metaKey) return 'send'
  if (touch || e.shiftKey) return 'newline'
  return 'send'
}

/** Whether the main pointer is a finger (phones, tablets). */
export function isTouchDevice(): boolean {
  return typeof window !== 'undefined' && !!window.matchMedia?.('(pointer: coarse)').matches
}
