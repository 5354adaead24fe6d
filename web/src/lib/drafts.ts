import type { MessageRef } from '../api/types'
import { readJson, userKey, writeJson, type KeyValueStorage } from './localStore'

/** What the user was writing in a chat: the text and the message it replies to. */
export interface Draft {
  text: string
  replyTo: MessageRef | null
}

/**
 * Every chat's draft of one user, kept while they switch chats and, in localStorage,
 * across reloads. A draft with no text and no reply is no draft.
 */
export class Drafts {
  private byChat = new Map<number, Draft>()
  private readonly key: string

  constructor(
    private readonly storage: KeyValueStorage | null,
    userId: number,
  ) {
    this.key = userKey('drafts', userId)
    const raw = readJson(storage, this.key)
    if (raw && typeof raw === 'object' && !Array.isArray(raw)) {
      for (const [id, v] of Object.entries(raw as Record<string, unknown>)) {
        const d = v as Partial<Draft> | null
        if (d && typeof d.text === 'string' && Number.isSafeInteger(Number(id))) {
          this.byChat.set(Number(id), { text: d.text, replyTo: d.replyTo ?? null })
        }
      }
    }
  }

  get(chatId: number): Draft {
    return this.byChat.get(chatId) ?? { text: '', replyTo: null }
  }

  set(chatId: number, draft: Draft): void {
    const old = this.byChat.get(chatId)
    if (!draft.text && !draft.replyTo) {
      if (!old) return
      this.byChat.delete(chatId)
    } else {
      if (old && old.text === draft.text && old.replyTo?.id === draft.replyTo?.id) return
      this.byChat.set(chatId, { text: draft.text, replyTo: draft.replyTo })
    }
    writeJson(this.storage, this.key, Object.fromEntries(this.byChat))
  }

  /** Signing out on purpose: the next person at this device does not see them. */
  clear(): void {
    this.byChat.clear()
    writeJson(this.storage, this.key, null)
  }
}
