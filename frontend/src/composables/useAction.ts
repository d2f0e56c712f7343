import { ref, type Ref } from 'vue'

import { messageOf } from '../forms'

/** The state of an action a page runs against the service: busy while it runs, its error after. */
export interface Action {
  /** True while `run` is under way (buttons are disabled on it). */
  busy: Ref<boolean>
  /** What went wrong the last time, in words; empty when it went well. */
  error: Ref<string>
  /**
   * Run `work`: the error is cleared and `busy` set meanwhile. A failure lands
   * in `error`, worded by `explain` (the error's own message by default), and
   * resolves to false; nothing is thrown.
   */
  run(work: () => Promise<void>, explain?: (exc: unknown) => string): Promise<boolean>
}

export function useAction(): Action {
  const busy = ref(false)
  const error = ref('')

  async function run(
    work: () => Promise<void>,
    explain: (exc: unknown) => string = messageOf,
  ): Promise<boolean> {
    busy.value = true
    error.value = ''
    try {
      await work()
      return true
    } catch (exc) {
      error.value = explain(exc)
      return false
    } finally {
      busy.value = false
    }
  }

  return { busy, error, run }
}
