import { describe, expect, it } from 'vitest'
import { ApiError } from '../src/api/client'
import { errorMessage } from '../src/api/errors'

describe('error sentences for the user', () => {
  it('never shows the server’s developer message', () => {
    const err = new ApiError(409, 'conflict', 'name already taken')
    expect(errorMessage(err, 'signup')).toMatch(/^That name is already taken/)
    expect(errorMessage(err)).not.toContain('name already taken')
  })

  it('chooses by code, worded for the action where that is clearer', () => {
    expect(errorMessage(new ApiError(401, 'unauthenticated', 'wrong name or password'), 'signin')).toBe('Wrong name or password.')
    expect(errorMessage(new ApiError(403, 'forbidden', 'muted'), 'send')).toBe('You cannot send messages in this chat.')
    expect(errorMessage(new ApiError(403, 'forbidden', 'x'), 'edit')).toBe('Only the author can edit a message.')
    expect(errorMessage(new ApiError(404, 'not_found', 'x'), 'open-chat')).toBe('Chat not found')
    expect(errorMessage(new ApiError(503, 'unavailable', 'mysql down'))).toMatch(/temporarily unavailable/)
    expect(errorMessage(new ApiError(0, 'network', 'x'))).toMatch(/Cannot reach the server/)
  })

  it('every code of the API’s table has a sentence; unknown 5xx read as unavailable', () => {
    for (const code of ['invalid_argument', 'unauthenticated', 'forbidden', 'not_found', 'conflict', 'gone', 'payload_too_large', 'rate_limited', 'unavailable']) {
      const text = errorMessage(new ApiError(400, code, 'raw lower-case text'))
      expect(text).not.toBe('Something went wrong. Please try again.')
      expect(text[0]).toBe(text[0].toUpperCase())
    }
    expect(errorMessage(new ApiError(502, 'http_502', 'Bad Gateway'))).toMatch(/temporarily unavailable/)
    expect(errorMessage(new ApiError(429, 'rate_limited', 'slow down', 3))).toBe('Too many requests. Try again in 3 s.')
    expect(errorMessage(new Error('boom'))).toBe('Something went wrong. Please try again.')
  })
})
