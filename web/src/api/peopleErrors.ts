import { ApiError } from './client'
import { errorMessage } from './errors'

/**
 * The sentences for failed people and role requests (API.md 1.1), beside the general ones
 * of errors.ts, which they fall back to. The 409s say which rule refused: the last admin,
 * a full group, a taken or look-alike name.
 */
export type PeopleAction =
  | 'rename-chat' | 'add-member' | 'remove-member' | 'set-role' | 'leave'
  | 'profile' | 'rename-me' | 'about' | 'avatar' | 'block' | 'privacy' | 'direct'

const BY_ACTION: Record<PeopleAction, Record<string, string>> = {
  'rename-chat': {
    forbidden: 'Only admins can rename the group.',
    invalid_argument: 'A title is 1 to 100 characters, without control characters.',
  },
  'add-member': {
    forbidden: 'Only admins can add members.',
    conflict: 'The group is full.',
    not_found: 'That person does not exist any more.',
  },
  'remove-member': {
    forbidden: 'You may not remove that member.',
    conflict: 'The last admin cannot be removed while others remain. Make someone else admin first.',
  },
  'set-role': {
    forbidden: 'You may not change that member’s role.',
    conflict: 'The group needs an admin: make someone else admin first.',
  },
  leave: {
    conflict: 'You are the last admin of this group. Make someone else admin before you leave.',
  },
  profile: { not_found: 'This person does not exist any more.' },
  'rename-me': {
    conflict: 'That name is taken, or looks like a name that is. Try another one.',
    invalid_argument: 'A name is 1 to 32 letters, digits, "_", "-" or ".".',
  },
  about: { invalid_argument: 'About is at most 500 characters, without control characters.' },
  avatar: {
    invalid_argument: 'That image could not be read. Use a PNG, JPEG or WebP picture.',
    payload_too_large: 'That image is larger than 5 MB.',
  },
  block: {},
  privacy: {},
  direct: {
    forbidden: 'This person does not accept messages from you.',
    not_found: 'This person does not exist any more.',
  },
}

export function peopleErrorMessage(err: unknown, action: PeopleAction): string {
  if (err instanceof ApiError) {
    const text = BY_ACTION[action][err.code]
    if (text) return text
  }
  return errorMessage(err)
}
