import { describe, expect, it, vi } from 'vitest'
import { ApiError, createApi } from '../src/api/client'
import { errorMessage } from '../src/api/errors'

function respond(status: number, body: unknown, headers: Record<string, string> = {}) {
  return vi.fn(async () => new Response(body === undefined ? null : JSON.stringify(body), { status, headers }))
}

describe('API client', () => {
  it('sends the bearer token and relative URLs', async () => {
    const fetch = respond(200, { users: [] })
    const api = createApi({ getToken: () => 'tok', fetch })
    await api.searchUsers('al', 5)
    const [url, init] = fetch.mock.calls[0] as unknown as [string, RequestInit]
    expect(url).toBe('/api/v1/users?prefix=al&limit=5')
    expect((init.headers as Record<string, string>).Authorization).toBe('Bearer tok')
  })

  it('logout revokes the token it is sent with', async () => {
    const fetch = vi.fn(async () => new Response(null, { status: 204 }))
    const api = createApi({ getToken: () => 'tok', fetch })
    await expect(api.logout()).resolves.toBeUndefined()
    const [url, init] = fetch.mock.calls[0] as unknown as [string, RequestInit]
    expect(url).toBe('/api/v1/auth/logout')
    expect(init.method).toBe('POST')
    expect((init.headers as Record<string, string>).Authorization).toBe('Bearer tok')
  })

  it('turns the error format into ApiError with the server’s message', async () => {
    const api = createApi({ getToken: () => 't', fetch: respond(409, { error: { code: 'conflict', message: 'name already taken' } }) })
    const err = await api.register('alice', 'password1').catch((e) => e)
    expect(err).toBeInstanceOf(ApiError)
    expect(err).toMatchObject({ status: 409, code: 'conflict', message: 'name already taken' })
  })

  it('reports Retry-After on 429', async () => {
    const api = createApi({ getToken: () => 't', fetch: respond(429, { error: { code: 'rate_limited', message: 'slow down' } }, { 'Retry-After': '3' }) })
    const err = await api.me().catch((e) => e)
    expect(errorMessage(err)).toBe('Too many requests. Try again in 3 s.')
    expect(err.transient).toBe(true)
  })

  it('a 401 ends the session', async () => {
    const onUnauthorized = vi.fn()
    const api = createApi({ getToken: () => 't', onUnauthorized, fetch: respond(401, { error: { code: 'unauthenticated', message: 'bad token' } }) })
    await api.me().catch(() => {})
    expect(onUnauthorized).toHaveBeenCalledOnce()
  })

  it('a wrong password at sign-in does not count as an expired session', async () => {
    const onUnauthorized = vi.fn()
    const api = createApi({ getToken: () => null, onUnauthorized, fetch: respond(401, { error: { code: 'unauthenticated', message: 'wrong name or password' } }) })
    await expect(api.login('a', 'b')).rejects.toThrow('wrong name or password')
    expect(onUnauthorized).not.toHaveBeenCalled()
  })

  it('a network failure is a transient ApiError with a readable message', async () => {
    const api = createApi({ getToken: () => 't', fetch: vi.fn(async () => { throw new TypeError('Failed to fetch') }) })
    const err = await api.me().catch((e) => e)
    expect(err).toMatchObject({ status: 0, code: 'network' })
    expect(err.transient).toBe(true)
  })

  it('handles 204 and non-JSON error bodies', async () => {
    const ok = createApi({ getToken: () => 't', fetch: respond(204, undefined) })
    await expect(ok.markRead(1, 2)).resolves.toBeUndefined()
    const bad = createApi({ getToken: () => 't', fetch: vi.fn(async () => new Response('<html>bad gateway</html>', { status: 502, statusText: 'Bad Gateway' })) })
    await expect(bad.me()).rejects.toThrow('The server answered 502 Bad Gateway')
  })

  it('updates: asks for the current cursor without after, and pages after one', async () => {
    const fetch = respond(200, { updates: [], cursor: '12.s1', has_more: false })
    const api = createApi({ getToken: () => 't', fetch })
    await expect(api.updates()).resolves.toEqual({ updates: [], cursor: '12.s1', has_more: false })
    await api.updates('12.s1', 500)
    const urls = fetch.mock.calls.map((c) => (c as unknown as [string])[0])
    expect(urls).toEqual(['/api/v1/updates', '/api/v1/updates?after=12.s1&limit=500'])
  })

  it('updates: a cursor the server no longer keeps is an ApiError with status 410', async () => {
    const api = createApi({ getToken: () => 't', fetch: respond(410, { error: { code: 'gone', message: 'cursor too old' } }) })
    const err = await api.updates('1.old').catch((e) => e)
    expect(err).toBeInstanceOf(ApiError)
    expect(err).toMatchObject({ status: 410, code: 'gone' })
  })
})
