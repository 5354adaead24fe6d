import { inject, markRaw, onScopeDispose, provide, reactive, ref, shallowReactive, type InjectionKey } from 'vue'
import type { Api } from '../api/client'
import { ApiError } from '../api/client'
import type { Chat, ChatSummary, Privacy, Profile, Update, User } from '../api/types'
import { ChatHub } from '../lib/hub'
import { peerOf } from '../lib/people'
import { signIn, session } from '../stores/session'
import type { ChatList } from './useChatList'

type PeopleApi = Pick<Api, 'getChat' | 'me' | 'blocks' | 'block' | 'unblock' | 'privacy' | 'setPrivacy'>

/** A side panel: a chat's info, someone's profile, or the user's own profile editor. */
export type Panel = { kind: 'chat'; chatId: number } | { kind: 'user'; userId: number } | { kind: 'me' }

/** At most this many direct chats are fetched at once to learn who the other member is. */
const PEER_FETCHES = 4

/**
 * People as the messenger shows them, beside the chat list:
 *
 * - `person(u)`: the freshest copy of a user — their name and avatar as the latest
 *   member.updated (a rename, a new avatar), profile or own edit said — so that author
 *   names, member lists and titles already on screen change live. Messages keep the
 *   author they were loaded with; everything renders through this.
 * - `peer(chat)`: the other member of a direct chat, for its avatar. A summary does not
 *   name them: the last message's author when that is not the user, else one GET /chats/{id}
 *   (a few at a time, once per chat).
 * - the side panels (a stack: chat info → a member's profile → back), and the user's
 *   blocks.
 * - `hub`: member and chat updates by chat id, for an open chat info panel.
 */
export function usePeople(api: PeopleApi, me: User, chatList: Pick<ChatList, 'byId' | 'addChat'>) {
  /** Users whose name or avatar the client learned after loading what shows them. */
  const fresh = shallowReactive(new Map<number, User>())
  /** Direct chat id → the other member. */
  const peers = shallowReactive(new Map<number, User>())
  const peerQueue: number[] = []
  const peerAsked = new Set<number>()
  let peerFetching = 0
  let disposed = false

  const panels = ref<Panel[]>([])
  const blocked = ref<Set<number>>(new Set())
  const blocksLoaded = ref(false)
  /** The user's privacy settings, once known (GET /me/privacy, then each PATCH's answer). */
  const privacy = ref<Privacy | null>(null)
  const hub = markRaw(new ChatHub())

  function person<T extends User>(u: T): T {
    const f = fresh.get(u.id)
    if (!f || (f.name === u.name && (f.avatar_url ?? null) === (u.avatar_url ?? null))) return u
    return { ...u, name: f.name, avatar_url: f.avatar_url ?? null }
  }

  /** Records what the server says a user is now (from a publication, a profile, an edit). */
  function learn(u: User | Profile): void {
    const old = fresh.get(u.id)
    const next: User = { id: u.id, name: u.name, avatar_url: u.avatar_url ?? null }
    if (old && old.name === next.name && old.avatar_url === next.avatar_url) return
    fresh.set(u.id, next)
    if (u.id === me.id && session.token && session.user?.name !== u.name) {
      // The session keeps the name for the next start; the token is the same.
      signIn(session.token, next)
    }
    // A direct chat's title is the other member's name (API.md).
    for (const [chatId, p] of peers) {
      if (p.id !== u.id) continue
      peers.set(chatId, { ...p, ...next })
      const c = chatList.byId(chatId)
      if (c && c.kind === 'direct' && c.title !== u.name) chatList.addChat({ ...c, title: u.name })
    }
  }

  /** A full chat was loaded (pane, info panel): its members are the freshest there are. */
  function learnChat(chat: Chat): void {
    const p = peerOf(chat, me.id)
    if (p && !peers.has(chat.id)) peers.set(chat.id, p)
  }

  function peer(chat: ChatSummary): User | null {
    if (chat.kind !== 'direct') return null
    const known = peers.get(chat.id)
    if (known) return person(known)
    // Not stored: this runs while rendering.
    const author = chat.last_message?.author
    if (author && author.id !== me.id) return person(author)
    askPeer(chat.id)
    return null
  }

  function askPeer(chatId: number): void {
    if (peerAsked.has(chatId)) return
    peerAsked.add(chatId)
    peerQueue.push(chatId)
    pumpPeers()
  }

  function pumpPeers(): void {
    while (!disposed && peerFetching < PEER_FETCHES && peerQueue.length > 0) {
      const id = peerQueue.shift() as number
      peerFetching++
      api
        .getChat(id)
        .then((chat) => !disposed && learnChat(chat))
        // Not a member any more, or offline: the initials of the title stay.
        .catch(() => {})
        .finally(() => {
          peerFetching--
          pumpPeers()
        })
    }
  }

  /** Every update of the user's stream passes here, after the chat list took it. */
  function apply(u: Update): void {
    switch (u.type) {
      case 'member.updated':
        if (u.user.id !== me.id && chatList.byId(u.chat_id)?.kind === 'direct') peers.set(u.chat_id, u.user)
        learn(u.user)
        hub.emit(u.chat_id, { kind: 'publication', pub: u })
        break
      case 'member.added':
      case 'member.removed':
        hub.emit(u.chat_id, { kind: 'publication', pub: u })
        break
      case 'chat.updated':
        hub.emit(u.chat.id, { kind: 'publication', pub: u })
        break
      case 'chat.removed':
        hub.emit(u.chat_id, { kind: 'publication', pub: u })
        break
    }
  }

  async function start(): Promise<void> {
    const [mine, settings] = await Promise.allSettled([api.me(), api.privacy()])
    // The user's own avatar (and a name changed on another device); else the session's copy stays.
    if (mine.status === 'fulfilled') learn(mine.value)
    if (settings.status === 'fulfilled') privacy.value = privacyOf(settings.value) ?? privacy.value
  }

  async function setPrivacy(patch: Partial<Privacy>): Promise<void> {
    privacy.value = await api.setPrivacy(patch)
  }

  async function loadBlocks(): Promise<void> {
    try {
      const res = await api.blocks()
      blocked.value = new Set(res.users.map((u) => u.id))
      blocksLoaded.value = true
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) blocksLoaded.value = true
      else throw err
    }
  }

  async function setBlocked(userId: number, block: boolean): Promise<void> {
    await (block ? api.block(userId) : api.unblock(userId))
    const next = new Set(blocked.value)
    if (block) next.add(userId)
    else next.delete(userId)
    blocked.value = next
  }

  const panel = {
    stack: panels,
    open(p: Panel, replace = false) {
      panels.value = replace ? [p] : [...panels.value, p]
    },
    back() {
      panels.value = panels.value.slice(0, -1)
    },
    close() {
      panels.value = []
    },
  }

  onScopeDispose(() => {
    disposed = true
  })

  return reactive({
    me,
    person,
    learn,
    learnChat,
    peer,
    apply,
    start,
    hub,
    panel,
    blocked,
    blocksLoaded,
    privacy,
    setPrivacy,
    loadBlocks,
    setBlocked,
    openChatInfo: (chatId: number) => panel.open({ kind: 'chat', chatId }, true),
    openProfile: (userId: number) => panel.open(userId === me.id ? { kind: 'me' } : { kind: 'user', userId }, panels.value.length === 0),
    openMyProfile: () => panel.open({ kind: 'me' }, true),
  })
}

/** Privacy settings as an answer has them (GET /me/privacy; under "privacy" in case GET /me gets them), or null. */
export function privacyOf(me: object): Privacy | null {
  const m = me as { privacy?: Partial<Privacy> } & Partial<Privacy>
  const p = m.privacy ?? m
  const ok = (v: unknown) => v === 'everyone' || v === 'nobody'
  return ok(p.last_seen) && ok(p.direct_messages)
    ? { last_seen: p.last_seen as Privacy['last_seen'], direct_messages: p.direct_messages as Privacy['direct_messages'] }
    : null
}

export type People = ReturnType<typeof usePeople>

const KEY: InjectionKey<People> = Symbol('people')

export function providePeople(p: People): void {
  provide(KEY, p)
}

export function usePeopleContext(): People {
  const p = inject(KEY, null)
  if (!p) throw new Error('usePeopleContext outside the messenger view')
  return p
}
