import { describe, expect, it } from 'vitest'
import { codePointLength, isServerCopy, newClientId, newOutgoing, transition } from '../src/lib/outbox'
import { alice, msg } from './fixtures'

describe('optimistic send state machine', () => {
  const server = msg(100, alice, { client_id: 'abc', text: 'hi' })

  it('sending → sent with the server copy', () => {
    const o = newOutgoing(42, 'hi', 'abc')
    expect(o.status).toBe('sending')
    const s = transition(o, { type: 'accepted', message: server })
    expect(s.status).toBe('sent')
    expect(s.message).toBe(server)
  })

  it('sending → failed → retry keeps the client_id → sent', () => {
    let o = newOutgoing(42, 'hi', 'abc')
    o = transition(o, { type: 'rejected', error: 'Cannot reach the server' })
    expect(o).toMatchObject({ status: 'failed', error: 'Cannot reach the server' })
    o = transition(o, { type: 'retry' })
    expect(o).toMatchObject({ status: 'sending', clientId: 'abc', attempts: 2, error: null })
    o = transition(o, { type: 'accepted', message: server })
    expect(o.status).toBe('sent')
  })

  it('ignores events that make no sense in a state', () => {
    const sending = newOutgoing(42, 'hi', 'abc')
    expect(transition(sending, { type: 'retry' })).toBe(sending) // no double send
    const sent = transition(sending, { type: 'accepted', message: server })
    expect(transition(sent, { type: 'rejected', error: 'late' })).toBe(sent) // a late failure cannot undo it
    expect(transition(sent, { type: 'retry' })).toBe(sent)
    const failed = transition(sending, { type: 'rejected', error: 'x' })
    expect(transition(failed, { type: 'rejected', error: 'y' })).toBe(failed)
  })

  it('failed → sent when the server copy arrives anyway (the answer was lost)', () => {
    const failed = transition(newOutgoing(42, 'hi', 'abc'), { type: 'rejected', error: 'x' })
    expect(transition(failed, { type: 'accepted', message: server }).status).toBe('sent')
  })

  it('recognises its server copy by client_id, author and chat', () => {
    const o = newOutgoing(42, 'hi', 'abc')
    expect(isServerCopy(o, server, alice.id)).toBe(true)
    expect(isServerCopy(o, { ...server, client_id: 'other' }, alice.id)).toBe(false)
    expect(isServerCopy(o, server, 99)).toBe(false)
    expect(isServerCopy(o, { ...server, chat_id: 7 }, alice.id)).toBe(false)
  })

  it('makes client ids the API accepts', () => {
    const ids = new Set(Array.from({ length: 50 }, () => newClientId()))
    expect(ids.size).toBe(50)
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_-]{1,64}$/)
  })

  it('counts code points like the API', () => {
    expect(codePointLength('a😀b')).toBe(3)
  })
})
