import { describe, expect, it } from 'vitest'
import { Drafts } from '../src/lib/drafts'
import { restore } from '../src/lib/outbox'
import { bob } from './fixtures'

function memory() {
  const data = new Map<string, string>()
  return { data, getItem: (k: string) => data.get(k) ?? null, setItem: (k: string, v: string) => void data.set(k, v), removeItem: (k: string) => void data.delete(k) }
}

describe('drafts', () => {
  it('keeps each chat’s text and reply, per user, across a reload', () => {
    const storage = memory()
    const d = new Drafts(storage, 1)
    d.set(42, { text: 'half a thought', replyTo: null })
    d.set(43, { text: '', replyTo: { id: 5, author: bob, text: 'question' } })
    const again = new Drafts(storage, 1)
    expect(again.get(42)).toEqual({ text: 'half a thought', replyTo: null })
    expect(again.get(43).replyTo?.id).toBe(5)
    expect(new Drafts(storage, 2).get(42)).toEqual({ text: '', replyTo: null })
  })

  it('an empty draft is no draft; clear forgets everything', () => {
    const storage = memory()
    const d = new Drafts(storage, 1)
    d.set(42, { text: 'x', replyTo: null })
    d.set(42, { text: '', replyTo: null })
    expect(storage.data.size).toBe(0)
    d.set(42, { text: 'y', replyTo: null })
    d.clear()
    expect(new Drafts(storage, 1).get(42).text).toBe('')
  })

  it('survives storage that is unreadable or refuses to write', () => {
    const broken = { getItem: () => '{not json', setItem: () => { throw new Error('quota') }, removeItem: () => {} }
    const d = new Drafts(broken, 1)
    expect(d.get(1).text).toBe('')
    d.set(1, { text: 'kept in memory', replyTo: null })
    expect(d.get(1).text).toBe('kept in memory')
  })
})

describe('restoring the outbox after a reload', () => {
  it('keeps well-formed unsent messages; one that was on its way becomes a retryable failure', () => {
    const restored = restore([
      { clientId: 'a', chatId: 42, text: 'was sending', status: 'sending', attempts: 1 },
      { clientId: 'b', chatId: 42, text: 'had failed', status: 'failed', error: 'You cannot send messages in this chat.', retryable: false },
      { clientId: 'c', chatId: 42, text: 'was sent', status: 'sent' },
      { clientId: 7, chatId: 42, text: 'malformed' },
      'garbage',
    ])
    expect(restored.map((o) => [o.clientId, o.status, o.retryable])).toEqual([['a', 'failed', true], ['b', 'failed', false]])
    expect(restore(null)).toEqual([])
  })
})
