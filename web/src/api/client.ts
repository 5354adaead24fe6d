import type {
  AuthResult,
  Chat,
  ChatPage,
  MemberRole,
  MessagePage,
  Privacy,
  Profile,
  RealtimeToken,
  SearchPage,
  SendResult,
  SubscriptionToken,
  User,
  UpdatesPage,
  UserList,
} from './types'

/**
 * An error answer of the API ({"error": {"code", "message"}}), or a network failure
 * (status 0, code "network") when no answer arrived at all.
 */
export class ApiError extends Error {
  readonly status: number
  readonly code: string
  readonly retryAfter: number | null

  constructor(status: number, code: string, message: string, retryAfter: number | null = null) {
    super(message)
    this.name = 'ApiError'
    this.status = status
    this.code = code
    this.retryAfter = retryAfter
  }

  /** Whether the same request may succeed later without change (the server said so, or never answered). */
  get transient(): boolean {
    return this.status === 0 || this.status === 429 || this.status === 503 || this.status >= 500
  }
}

export interface ApiOptions {
  /** Base of the API; relative so the client works at whatever origin serves it. */
  baseUrl?: string
  getToken: () => string | null
  /** Called on any 401 answer to an authenticated request (expired or revoked session). */
  onUnauthorized?: () => void
  fetch?: typeof fetch
}

export type Api = ReturnType<typeof createApi>

export function createApi(opts: ApiOptions) {
  const base = opts.baseUrl ?? '/api/v1'
  const doFetch = opts.fetch ?? ((input, init) => fetch(input, init))

  async function request<T>(method: string, path: string, body?: unknown, auth = true): Promise<T> {
    const headers: Record<string, string> = { Accept: 'application/json' }
    // A Blob (an avatar's image) goes as it is, with its own type; anything else as JSON.
    const raw = body instanceof Blob
    if (body !== undefined) headers['Content-Type'] = raw ? body.type : 'application/json'
    if (auth) {
      const token = opts.getToken()
      if (token) headers.Authorization = `Bearer ${token}`
    }
    let res: Response
    try {
      res = await doFetch(base + path, {
        method,
        headers,
        body: body === undefined ? undefined : raw ? body : JSON.stringify(body),
      })
    } catch {
      throw new ApiError(0, 'network', 'Cannot reach the server. Check your connection and try again.')
    }
    if (res.status === 204) return undefined as T
    const text = await res.text()
    let data: unknown = null
    if (text) {
      try {
        data = JSON.parse(text)
      } catch {
        data = null
      }
    }
    if (!res.ok) {
      // ErrorBody, read leniently: a proxy in between may answer with a body of its own.
      const e = (data as { error?: { code?: string; message?: string } } | null)?.error
      const retry = Number(res.headers.get('Retry-After'))
      const err = new ApiError(
        res.status,
        e?.code ?? 'http_' + res.status,
        e?.message || `The server answered ${res.status} ${res.statusText}`.trim(),
        Number.isFinite(retry) && retry > 0 ? retry : null,
      )
      if (res.status === 401 && auth) opts.onUnauthorized?.()
      throw err
    }
    return data as T
  }

  const q = (params: Record<string, string | number | undefined | null>) => {
    const s = new URLSearchParams()
    for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null) s.set(k, String(v))
    const str = s.toString()
    return str ? '?' + str : ''
  }

  return {
    register: (name: string, password: string) =>
      request<AuthResult>('POST', '/auth/register', { name, password }, false),
    login: (name: string, password: string) =>
      request<AuthResult>('POST', '/auth/login', { name, password }, false),
    /** Revokes the token on every gateway instance (API 1.1). */
    logout: () => request<void>('POST', '/auth/logout'),
    me: () => request<User>('GET', '/me'),
    searchUsers: (prefix: string, limit = 20) =>
      request<UserList>('GET', '/users' + q({ prefix, limit })),

    listChats: (cursor?: string | null, limit = 100) =>
      request<ChatPage>('GET', '/chats' + q({ limit, cursor })),
    getChat: (id: number) => request<Chat>('GET', `/chats/${id}`),
    createChat: (memberIds: number[], title?: string) =>
      request<Chat>('POST', '/chats', title ? { title, member_ids: memberIds } : { member_ids: memberIds }),

    messages: (chatId: number, page: { before?: number; after?: number; limit?: number } = {}) =>
      request<MessagePage>(
        'GET',
        `/chats/${chatId}/messages` + q({ before: page.before, after: page.after, limit: page.limit ?? 50 }),
      ),
    sendMessage: (chatId: number, text: string, clientId: string, replyToId?: number | null) =>
      request<SendResult>('POST', `/chats/${chatId}/messages`, {
        text,
        client_id: clientId,
        ...(replyToId ? { reply_to_id: replyToId } : {}),
      }),
    /** Forwards a message of another chat (API 1.1); client_id is the idempotency key as for a send. */
    forwardMessage: (chatId: number, clientId: string, source: { chat_id: number; message_id: number }) =>
      request<SendResult>('POST', `/chats/${chatId}/messages`, { client_id: clientId, forward: source }),
    /** The author changes the text (API 1.1); the answer is the message as stored. */
    editMessage: (chatId: number, messageId: number, text: string) =>
      request<SendResult>('PATCH', `/chats/${chatId}/messages/${messageId}`, { text }),
    /** Deletes for everyone, or with forMe hides it from the caller's own view only (API 1.1). */
    deleteMessage: (chatId: number, messageId: number, forMe = false) =>
      request<void>('DELETE', `/chats/${chatId}/messages/${messageId}` + (forMe ? '?for=me' : '')),
    /** Clears the caller's own view of the chat (API 1.1). */
    clearHistory: (chatId: number) => request<void>('DELETE', `/chats/${chatId}/history`),
    markRead: (chatId: number, messageId: number) =>
      request<void>('POST', `/chats/${chatId}/read`, { message_id: messageId }),

    realtimeToken: () => request<RealtimeToken>('GET', '/realtime/token'),
    subscriptionToken: (channel: string) =>
      request<SubscriptionToken>('POST', '/realtime/subscription-token', { channel }),

    /**
     * The user's updates after `after` (API 1.1); without it, no updates and the current
     * cursor. A cursor the server no longer keeps is an ApiError with status 410.
     */
    updates: (after?: string | null, limit?: number) =>
      request<UpdatesPage>('GET', '/updates' + q({ after, limit })),

    // --- 1.1: roles and titles, people (API.md "Chats and roles", "People") -----------
    /** Renames a group (admins only). */
    renameChat: (chatId: number, title: string) => request<Chat>('PATCH', `/chats/${chatId}`, { title }),
    /** Adds a member to a group (admins only). */
    addMember: (chatId: number, userId: number) =>
      request<Chat>('POST', `/chats/${chatId}/members`, { user_id: userId }),
    /** Removes a member, or with the caller's own id leaves the chat. */
    removeMember: (chatId: number, userId: number) => request<void>('DELETE', `/chats/${chatId}/members/${userId}`),
    setRole: (chatId: number, userId: number, role: MemberRole) =>
      request<Chat>('PATCH', `/chats/${chatId}/members/${userId}`, { role }),
    profile: (userId: number) => request<Profile>('GET', `/users/${userId}`),
    /** Changes the caller's about text and/or name; 409 when the name is taken or looks like one that is. */
    updateMe: (fields: { about?: string; name?: string }) => request<Profile>('PATCH', '/me', fields),
    /** The image as it is (image/png, image/jpeg or image/webp, at most 5 MiB); the server resizes it. */
    uploadAvatar: (image: Blob) => request<Profile>('PUT', '/me/avatar', image),
    deleteAvatar: () => request<Profile>('DELETE', '/me/avatar'),
    blocks: () => request<UserList>('GET', '/me/blocks'),
    block: (userId: number) => request<void>('PUT', `/me/blocks/${userId}`),
    unblock: (userId: number) => request<void>('DELETE', `/me/blocks/${userId}`),
    /** The caller's privacy settings (GET /me/privacy: the gateway's addition to the contract). */
    privacy: () => request<Privacy>('GET', '/me/privacy'),

    // --- 1.1: search, typing (API.md "Search", "Typing and presence") ------------------
    /** Messages of the caller's chats (or of one chat) with words starting with the query's words, newest first. */
    searchMessages: (query: string, opts: { chatId?: number | null; cursor?: string | null; limit?: number } = {}) =>
      request<SearchPage>('GET', '/search/messages' + q({ q: query, chat_id: opts.chatId, limit: opts.limit ?? 20, cursor: opts.cursor })),
    /** Says that the user is writing in the chat; the server publishes it at most every 3 s. */
    typing: (chatId: number) => request<void>('POST', `/chats/${chatId}/typing`),
    setPrivacy: (settings: Partial<Privacy>) => request<Privacy>('PATCH', '/me/privacy', settings),
  }
}
