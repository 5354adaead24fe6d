import { describe, expect, it } from 'vitest'
import { enterAction } from '../src/lib/keys'

const key = (over: Partial<Parameters<typeof enterAction>[0]> = {}) => ({
  key: 'Enter', shiftKey: false, ctrlKey: false, metaKey: false, isComposing: false, keyCode: 13, ...over,
})

describe('what Enter does in the composer', () => {
  it('on a desktop: Enter sends, Shift+Enter is a new line', () => {
    expect(enterAction(key(), false)).toBe('send')
    expect(enterAction(key({ shiftKey: true }), false)).toBe('newline')
  })

  it('on a touch screen: Enter is a new line; Ctrl/Cmd+Enter still sends', () => {
    expect(enterAction(key(), true)).toBe('newline')
    expect(enterAction(key({ ctrlKey: true }), true)).toBe('send')
    expect(enterAction(key({ metaKey: true }), true)).toBe('send')
  })

  it('Enter that confirms an IME composition, or another key, does nothing', () => {
    expect(enterAction(key({ isComposing: true }), false)).toBe('none')
    expect(enterAction(key({ keyCode: 229 }), false)).toBe('none')
    expect(enterAction(key({ key: 'a' }), false)).toBe('none')
  })
})
