// The client's wire types against the server's golden files (shared/apijson/testdata):
// the Go test there keeps each file equal to what the gateway and the notifier encode,
// this one keeps the client's types and parsers equal to the files. A field renamed,
// added or dropped on either side fails one of the two.
import { readdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, test } from 'vitest'
import { ApiError, createApi } from '../src/api/client'
import type * as W from '../src/api/types'
import { parsePublication } from '../src/lib/publications'

const GOLDEN_DIR = fileURLToPath(new URL('../../shared/apijson/testdata/', import.meta.url))

function golden(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(GOLDEN_DIR + name + '.json', 'utf8'))
}

// --- The client's types, at run time ----------------------------------------------------
// TypeScript types vanish when compiled, so each wire type is written out once more as a
// shape: field name → 'number' | 'string' | 'boolean' | the name of another shape (or
// `Name[]` for a list of them), with '|null' where null is allowed and '?' where the
// field may be missing. The `satisfies` clauses make the compiler (npm run build, or
// npm run typecheck) accept exactly one shape per type — every key of the type, each
// with the field kind its type implies — so a shape cannot drift from its type.

type Pub<T extends W.Publication['type']> = Extract<W.Publication, { type: T }>

interface Shapes {
  User: W.User
  Profile: W.Profile
  Privacy: W.Privacy
  Member: W.Member
  Message: W.Message
  MessageRef: W.MessageRef
  ForwardedFrom: W.ForwardedFrom
  ChatSummary: W.ChatSummary
  Chat: W.Chat
  AuthResult: W.AuthResult
  UserList: W.UserList
  ChatPage: W.ChatPage
  MessagePage: W.MessagePage
  SendResult: W.SendResult
  RealtimeToken: W.RealtimeToken
  SubscriptionToken: W.SubscriptionToken
  ErrorBody: W.ErrorBody
  ErrorDetail: W.ErrorBody['error']
  SearchPage: W.SearchPage
}
type ShapeName = keyof Shapes

/** The shape whose type is exactly V (never when no shape is). */
type NameOf<V> = {
  [N in ShapeName]: [V] extends [Shapes[N]] ? ([Shapes[N]] extends [V] ? N : never) : never
}[ShapeName]
type Kind<V> = [V] extends [number]
  ? 'number'
  : [V] extends [string]
    ? 'string'
    : [V] extends [boolean]
      ? 'boolean'
      : [V] extends [readonly (infer E)[]]
        ? `${NameOf<E>}[]`
        : NameOf<V>
type Field<V> = `${Kind<NonNullable<V>>}${null extends V ? '|null' : ''}${undefined extends V ? '?' : ''}`
type Shape<T> = { [K in keyof T]-?: Field<T[K]> }

const shapes = {
  User: { id: 'number', name: 'string', avatar_url: 'string|null?' },
  Profile: { id: 'number', name: 'string', avatar_url: 'string|null?', about: 'string', last_seen_at: 'string|null', online: 'boolean' },
  Privacy: { last_seen: 'string', direct_messages: 'string' },
  Member: { user: 'User', role: 'string' },
  Message: {
    id: 'number', chat_id: 'number', author: 'User', text: 'string', sent_at: 'string',
    client_id: 'string', reply_to_id: 'number|null',
    edited_at: 'string|null?', reply_to: 'MessageRef|null?', forwarded_from: 'ForwardedFrom|null?',
  },
  MessageRef: { id: 'number', author: 'User', text: 'string' },
  ForwardedFrom: { message_id: 'number', chat_id: 'number|null', author: 'User', sent_at: 'string' },
  ChatSummary: {
    id: 'number', kind: 'string', title: 'string', channel: 'string', members_count: 'number',
    last_message: 'Message|null', unread_count: 'number', read_message_id: 'number', updated_at: 'string',
    muted_until: 'string|null?',
  },
  Chat: {
    id: 'number', kind: 'string', title: 'string', channel: 'string', members_count: 'number',
    last_message: 'Message|null', unread_count: 'number', read_message_id: 'number', updated_at: 'string',
    muted_until: 'string|null?', created_at: 'string', members: 'Member[]',
  },
  AuthResult: { user: 'User', token: 'string' },
  UserList: { users: 'User[]' },
  ChatPage: { chats: 'ChatSummary[]', next_cursor: 'string|null' },
  MessagePage: { messages: 'Message[]', has_more: 'boolean' },
  SendResult: { message: 'Message' },
  RealtimeToken: { url: 'string', token: 'string', expires_at: 'string', personal_channel: 'string' },
  SubscriptionToken: { token: 'string' },
  ErrorBody: { error: 'ErrorDetail' },
  ErrorDetail: { code: 'string', message: 'string' },
  SearchPage: { messages: 'Message[]', next_cursor: 'string|null' },
} as const satisfies { [N in ShapeName]: Shape<Shapes[N]> }

// `cursor` is there on the personal channel and in GET /updates (API 1.1), not on chat channels.
const publicationShapes = {
  'message.created': { type: 'string', message: 'Message', cursor: 'string?' },
  'read.updated': { type: 'string', chat_id: 'number', user_id: 'number', message_id: 'number', cursor: 'string?' },
  'chat.added': { type: 'string', chat: 'ChatSummary', cursor: 'string?' },
  'chat.removed': { type: 'string', chat_id: 'number', cursor: 'string?' },
  'member.added': { type: 'string', chat_id: 'number', member: 'Member', members_count: 'number', cursor: 'string?' },
  'member.removed': { type: 'string', chat_id: 'number', user_id: 'number', members_count: 'number', cursor: 'string?' },
  'message.edited': { type: 'string', message: 'Message', cursor: 'string?' },
  'message.deleted': { type: 'string', chat_id: 'number', message_id: 'number', cursor: 'string?' },
  'history.cleared': { type: 'string', chat_id: 'number', through_id: 'number', cursor: 'string?' },
  'member.updated': { type: 'string', chat_id: 'number', user: 'User', role: 'string', cursor: 'string?' },
  'chat.updated': { type: 'string', chat: 'ChatSummary', cursor: 'string?' },
  typing: { type: 'string', chat_id: 'number', user: 'User', cursor: 'string?' },
  'presence.updated': { type: 'string', user_id: 'number', online: 'boolean', last_seen_at: 'string|null', cursor: 'string?' },
} as const satisfies { [T in W.Publication['type']]: Shape<Pub<T>> }

type AnyShape = Readonly<Record<string, string>>

/** The golden files (names as in shared/apijson/golden_test.go) and what each one is. */
const objectFiles: Record<string, ShapeName> = {
  user: 'User',
  message: 'Message',
  chat_summary: 'ChatSummary',
  chat: 'Chat',
  auth_result: 'AuthResult',
  user_list: 'UserList',
  chat_page: 'ChatPage',
  message_page: 'MessagePage',
  send_result: 'SendResult',
  realtime_token: 'RealtimeToken',
  subscription_token: 'SubscriptionToken',
  error: 'ErrorBody',
  profile: 'Profile',
  privacy: 'Privacy',
  search_page: 'SearchPage',
}
const publicationFiles: Record<string, W.Publication['type']> = {
  publication_message_created: 'message.created',
  publication_read_updated: 'read.updated',
  publication_chat_added: 'chat.added',
  publication_chat_removed: 'chat.removed',
  publication_member_added: 'member.added',
  publication_member_removed: 'member.removed',
  publication_message_edited: 'message.edited',
  publication_message_deleted: 'message.deleted',
  publication_history_cleared: 'history.cleared',
  publication_member_updated: 'member.updated',
  publication_chat_updated: 'chat.updated',
  publication_typing: 'typing',
  publication_presence_updated: 'presence.updated',
}

/** API.md: times are RFC 3339 in UTC with milliseconds. */
const TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/

/**
 * Everything in which a JSON value differs from a shape: keys the client does not know,
 * keys it needs that are missing, and values of the wrong kind, each with its path.
 */
function mismatches(value: unknown, shape: AnyShape, path: string): string[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return [`${path}: not an object`]
  const obj = value as Record<string, unknown>
  const out: string[] = []
  for (const key of Object.keys(obj)) {
    if (!(key in shape)) out.push(`${path}.${key}: a key the client does not know`)
  }
  for (const [key, field] of Object.entries(shape)) {
    const optional = field.endsWith('?')
    const [kind, nullable] = field.replace(/\?$/, '').split('|')
    const at = `${path}.${key}`
    if (!(key in obj)) {
      if (!optional) out.push(`${at}: missing, and the client needs it`)
      continue
    }
    const v = obj[key]
    if (v === null) {
      if (!nullable) out.push(`${at}: null, and the client's type does not allow it`)
    } else if (kind === 'number' || kind === 'string' || kind === 'boolean') {
      if (typeof v !== kind) out.push(`${at}: ${JSON.stringify(v)} is not a ${kind}`)
      else if (kind === 'number' && !Number.isSafeInteger(v)) out.push(`${at}: ${v} is not an exact integer`)
      else if (kind === 'string' && key.endsWith('_at') && !TIME.test(v as string)) out.push(`${at}: ${v} is not an API time`)
    } else if (kind.endsWith('[]')) {
      const item = shapes[kind.slice(0, -2) as ShapeName] as AnyShape
      if (!Array.isArray(v)) out.push(`${at}: not a list`)
      else v.forEach((e, i) => out.push(...mismatches(e, item, `${at}[${i}]`)))
    } else {
      out.push(...mismatches(v, shapes[kind as ShapeName] as AnyShape, at))
    }
  }
  return out
}

describe('wire format: the client against the server’s golden files', () => {
  test('every golden file is a type the client knows, and every client type has one', () => {
    const files = readdirSync(GOLDEN_DIR).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5)).sort()
    expect(files).toEqual([...Object.keys(objectFiles), ...Object.keys(publicationFiles)].sort())
    expect(Object.values(publicationFiles).sort()).toEqual(Object.keys(publicationShapes).sort())
  })

  test.each(Object.entries(objectFiles))('%s.json matches the client’s %s', (file, shape) => {
    expect(mismatches(golden(file), shapes[shape], file)).toEqual([])
  })

  test.each(Object.entries(publicationFiles))('%s.json is parsed as %s, whole', (file, type) => {
    const data = golden(file)
    expect(mismatches(data, publicationShapes[type], file)).toEqual([])
    const pub = parsePublication(data)
    expect(pub?.type).toBe(type)
    // The parsed publication is the golden itself: the client drops nothing it was sent.
    expect(pub).toEqual(data)
  })

  test('the error body becomes an ApiError with its code and message', async () => {
    const body = golden('error') as unknown as W.ErrorBody
    const api = createApi({
      getToken: () => 't',
      fetch: async () => new Response(JSON.stringify(body), { status: 404, headers: { 'Content-Type': 'application/json' } }),
    })
    const err = await api.getChat(42).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ApiError)
    expect(err).toMatchObject({ status: 404, code: body.error.code, message: body.error.message })
  })

  // The check itself must be able to fail: a renamed key is reported twice, as unknown
  // and as missing, and a wrong kind once.
  test('a renamed field or a wrong kind is caught', () => {
    const { chat_id, ...rest } = golden('message')
    expect(mismatches({ ...rest, chatId: chat_id }, shapes.Message, 'message')).toEqual([
      'message.chatId: a key the client does not know',
      'message.chat_id: missing, and the client needs it',
    ])
    expect(mismatches({ ...golden('message'), reply_to_id: '1041' }, shapes.Message, 'message')).toEqual([
      'message.reply_to_id: "1041" is not a number',
    ])
    expect(parsePublication({ ...golden('publication_read_updated'), chat_id: undefined })).toBeNull()
  })
})
