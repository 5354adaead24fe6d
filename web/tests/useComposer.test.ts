import { effectScope, nextTick } from 'vue'
import { describe, expect, it } from 'vitest'
import { useComposer } from '../src/composables/useComposer'
import { Drafts } from '../src/lib/drafts'
import { alice, bob, msg } from './fixtures'

function setup(drafts = new Drafts(null, alice.id)) {
  const scope = effectScope()
  const c = scope.run(() => useComposer(drafts, 42))!
  return { c, drafts, scope }
}

describe('the composer of a chat', () => {
  it('keeps the draft and the reply in the drafts at every change; a send clears them', async () => {
    const { c, drafts } = setup()
    c.text.value = 'half'
    c.startReply(msg(7, bob, { text: 'line one\nline two' }))
    await nextTick()
    expect(drafts.get(42)).toEqual({ text: 'half', replyTo: { id: 7, author: bob, text: 'line one\nline two' } })
    expect(c.context.value).toEqual({ kind: 'reply', author: 'bob', text: 'line one\nline two' })
    expect(c.submit('half done')).toEqual({ kind: 'send', text: 'half done', replyTo: drafts.get(42).replyTo })
    c.sent()
    await nextTick()
    expect(drafts.get(42)).toEqual({ text: '', replyTo: null })
    // The next pane of this chat starts from the drafts.
    c.text.value = 'again'
    await nextTick()
    expect(setup(drafts).c.text.value).toBe('again')
  })

  it('an edit has its own text: cancelling it gives the draft back; submitting ends it', () => {
    const { c } = setup()
    c.text.value = 'my draft'
    const own = msg(5, alice, { text: 'old text' })
    c.startEdit(own)
    expect(c.text.value).toBe('old text')
    expect(c.context.value?.kind).toBe('edit')
    c.text.value = 'new text'
    c.cancel()
    expect(c.text.value).toBe('my draft')
    c.startEdit(own)
    c.text.value = 'new text'
    expect(c.submit('new text')).toEqual({ kind: 'edit', message: own, text: 'new text' })
    expect(c.editing.value).toBeNull()
    expect(c.text.value).toBe('my draft')
  })

  it('follows changes made elsewhere to the message it refers to', () => {
    const { c } = setup()
    c.startReply(msg(7, bob))
    c.edited({ ...msg(7, bob), text: 'edited text' })
    expect(c.context.value?.text).toBe('edited text')
    expect(c.deleted(7)).toBe(false)
    expect(c.context.value?.text).toBe('') // shown as "Deleted message"
    c.startEdit(msg(8, alice))
    expect(c.deleted(8)).toBe(true)
    expect(c.editing.value).toBeNull()
  })
})
