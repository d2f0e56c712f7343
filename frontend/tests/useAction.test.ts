import { describe, expect, it } from 'vitest'

import { ApiError } from '../src/api'
import { useAction } from '../src/composables/useAction'

describe('useAction', () => {
  it('is busy while the work runs and not after', async () => {
    const action = useAction()
    let finish: () => void = () => {}
    const running = action.run(() => new Promise<void>((resolve) => (finish = resolve)))
    expect(action.busy.value).toBe(true)
    finish()
    expect(await running).toBe(true)
    expect(action.busy.value).toBe(false)
    expect(action.error.value).toBe('')
  })

  it('puts a failure in words and resolves to false', async () => {
    const action = useAction()
    const done = await action.run(async () => {
      throw new ApiError(400, 'InvalidInput', 'name is required')
    })
    expect(done).toBe(false)
    expect(action.error.value).toBe('name is required')
    expect(action.busy.value).toBe(false)
  })

  it('words a failure with the explanation given', async () => {
    const action = useAction()
    await action.run(
      () => Promise.reject(new ApiError(412, 'VersionMismatch', 'stale')),
      (exc) => (exc instanceof ApiError && exc.status === 412 ? 'Reload first.' : 'other'),
    )
    expect(action.error.value).toBe('Reload first.')
  })

  it('clears the last error when it runs again', async () => {
    const action = useAction()
    await action.run(() => Promise.reject(new Error('first')))
    expect(action.error.value).toBe('first')
    await action.run(async () => {})
    expect(action.error.value).toBe('')
  })
})
