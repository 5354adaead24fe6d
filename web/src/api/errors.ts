import { ApiError } from './client'

/**
 * What the user is told when a request fails. The server's `message` is written for
 * developers (lower case, terse: "name already taken"); the user gets a sentence chosen
 * by the error's code (API.md, "Conventions"), worded for what they were doing where
 * that makes it clearer. This is the one place those sentences live.
 */
export type Action =
  | 'signin' | 'signup' | 'send' | 'edit' | 'delete' | 'forward' | 'clear'
  | 'open-chat' | 'load' | 'create-chat' | 'search-users' | 'search'

const BY_CODE: Record<string, string> = {
  network: 'Cannot reach the server. Check your connection and try again.',
  invalid_argument: 'The server could not accept that. Check what you entered and try again.',
  unauthenticated: 'Your session has ended. Please sign in again.',
  forbidden: 'You are not allowed to do that here.',
  not_found: 'It is not there any more, or you are no longer a member of that chat.',
  conflict: 'That cannot be done in this chat right now.',
  gone: 'This view is out of date. Reloading…',
  payload_too_large: 'That is too large to send.',
  rate_limited: 'Too many requests. Please wait a moment and try again.',
  unavailable: 'The service is temporarily unavailable. Please try again in a moment.',
}

const BY_ACTION: Partial<Record<Action, Record<string, string>>> = {
  signin: { unauthenticated: 'Wrong name or password.' },
  signup: {
    conflict: 'That name is already taken (names that only look alike count as the same). Try another one.',
    invalid_argument: 'A name is 1 to 32 letters, digits, "_", "-" or "."; a password 8 to 72 bytes.',
  },
  send: {
    forbidden: 'You cannot send messages in this chat.',
    not_found: 'This chat is not available any more.',
    invalid_argument: 'This message cannot be sent: it is empty, too long or contains characters that are not allowed.',
  },
  edit: {
    forbidden: 'Only the author can edit a message.',
    not_found: 'That message has been deleted.',
    invalid_argument: 'The new text cannot be saved: it is empty, too long or contains characters that are not allowed.',
  },
  delete: {
    forbidden: 'Only the author, or an admin or moderator of the group, can delete this message for everyone.',
    not_found: 'That message is not there any more.',
  },
  forward: {
    not_found: 'That message or chat is not available any more.',
    forbidden: 'You cannot send messages in that chat.',
  },
  clear: { not_found: 'This chat is not available any more.' },
  search: {
    invalid_argument: 'Search for 1 to 256 characters of words.',
    not_found: 'That chat is not available any more.',
  },
  'open-chat': { not_found: 'Chat not found', forbidden: 'Chat not found' },
  'create-chat': {
    not_found: 'One of those people does not exist any more.',
    forbidden: 'That person does not accept new chats.',
    conflict: 'That group is full.',
    invalid_argument: 'Check the title: 1 to 100 characters, without control characters.',
  },
}

/** A sentence for the user for any error thrown by the API layer (or anything else). */
export function errorMessage(err: unknown, action?: Action): string {
  if (err instanceof ApiError) {
    const text =
      (action && BY_ACTION[action]?.[err.code]) ??
      BY_CODE[err.code] ??
      (err.status >= 500 ? BY_CODE.unavailable : 'Something went wrong. Please try again.')
    if (err.status === 429 && err.retryAfter != null) return `Too many requests. Try again in ${err.retryAfter} s.`
    return text
  }
  return 'Something went wrong. Please try again.'
}
