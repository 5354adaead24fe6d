import { computed, ref, shallowRef, watch } from 'vue'
import type { Message, MessageRef } from '../api/types'
import type { Drafts } from '../lib/drafts'
import { quoteText } from '../lib/messages'

/** What the composer's text refers to, shown above it. */
export interface ComposerContext {
  kind: 'reply' | 'edit'
  author: string
  text: string
}

/** What a submit of the composer means. */
export type Submit =
  | { kind: 'send'; text: string; replyTo: MessageRef | null }
  | { kind: 'edit'; message: Message; text: string }

/**
 * The composer of one chat: its draft and the message it replies to (kept in the user's
 * drafts at every change, so a chat switch or a reload loses nothing typed), or the
 * message being edited, whose new text is separate — cancelling an edit gives the draft
 * back untouched.
 */
export function useComposer(drafts: Drafts, chatId: number) {
  const saved = drafts.get(chatId)
  const draft = ref(saved.text)
  const replyTo = ref<MessageRef | null>(saved.replyTo)
  const editing = shallowRef<Message | null>(null)
  const editText = ref('')

  watch([draft, replyTo], () => drafts.set(chatId, { text: draft.value, replyTo: replyTo.value }))

  /** The text in the box (v-model): the draft, or the new text of the edited message. */
  const text = computed({
    get: () => (editing.value ? editText.value : draft.value),
    set: (v: string) => {
      if (editing.value) editText.value = v
      else draft.value = v
    },
  })

  const context = computed<ComposerContext | null>(() => {
    if (editing.value) return { kind: 'edit', author: editing.value.author.name, text: editing.value.text }
    if (replyTo.value) return { kind: 'reply', author: replyTo.value.author.name, text: replyTo.value.text }
    return null
  })

  function startReply(m: Message): void {
    editing.value = null
    replyTo.value = { id: m.id, author: m.author, text: quoteText(m.text) }
  }

  function startEdit(m: Message): void {
    editing.value = m
    editText.value = m.text
  }

  /** Escape or the × button: an edit ends first, then a reply. */
  function cancel(): void {
    if (editing.value) editing.value = null
    else replyTo.value = null
  }

  /** The user submits: an edit ends here; a send clears the draft once it is on its way (sent()). */
  function submit(t: string): Submit {
    const m = editing.value
    if (m) {
      editing.value = null
      return { kind: 'edit', message: m, text: t }
    }
    return { kind: 'send', text: t, replyTo: replyTo.value }
  }

  function sent(): void {
    draft.value = ''
    replyTo.value = null
  }

  /** A message changed elsewhere: an edit of it goes on from its new text, a quote of it shows it. */
  function edited(m: Message): void {
    if (editing.value?.id === m.id) editing.value = m
    if (replyTo.value?.id === m.id) replyTo.value = { ...replyTo.value, text: quoteText(m.text) }
  }

  /** A message was deleted; returns whether it was the one being edited (the edit is over). */
  function deleted(id: number): boolean {
    if (replyTo.value?.id === id) replyTo.value = { ...replyTo.value, text: '' }
    if (editing.value?.id !== id) return false
    editing.value = null
    return true
  }

  return { text, context, editing, startReply, startEdit, cancel, submit, sent, edited, deleted }
}
