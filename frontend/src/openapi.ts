// The OpenAPI document, flattened into what the API page shows of each operation.

type Json = Record<string, unknown>

export interface Parameter {
  name: string
  where: string
  required: boolean
  schema: string
}

export interface Answer {
  status: string
  description: string
  schema: string
}

export interface Operation {
  id: string
  method: string
  path: string
  summary: string
  who: string
  parameters: Parameter[]
  body: string
  answers: Answer[]
}

const METHODS = ['get', 'post', 'put', 'patch', 'delete']
const PERMISSION =
  /\b(?:DATA_EDIT|OWNERS_READ|USER_ADD|USER_SEARCH|USER_MANAGEMENT|DATA_MANAGEMENT)\b/g

function obj(value: unknown): Json {
  return value !== null && typeof value === 'object' ? (value as Json) : {}
}

/** A schema as indented JSON, with top-level `$ref`s to components resolved. */
export function schemaText(schema: unknown, doc: Json): string {
  let resolved = obj(schema)
  const ref = resolved.$ref
  if (typeof ref === 'string' && ref.startsWith('#/components/schemas/')) {
    const name = ref.slice('#/components/schemas/'.length)
    resolved = { title: name, ...obj(obj(obj(doc.components).schemas)[name]) }
  }
  return JSON.stringify(resolved, null, 2)
}

function who(op: Json): string {
  if (!Array.isArray(op.security) || op.security.length === 0)
    return 'Anyone, no credentials needed.'
  const named = [...new Set(String(op.summary ?? '').match(PERMISSION) ?? [])]
  const summary = String(op.summary ?? '')
  const self = /\bself\b/i.test(summary) ? 'the user themself or ' : ''
  const needs = named.length ? `; needs ${self}${named.join(' or ')}` : ''
  return `Signed in (Authorization: Bearer with an API key or an access token)${needs}.`
}

/** Every operation of the document, in path order. */
export function operations(doc: Json): Operation[] {
  const result: Operation[] = []
  for (const [path, item] of Object.entries(obj(doc.paths))) {
    for (const method of METHODS) {
      const op = obj(obj(item)[method])
      if (!Object.keys(op).length) continue
      const parameters = (Array.isArray(op.parameters) ? op.parameters : []).map((p): Parameter => {
        const param = obj(p)
        return {
          name: String(param.name),
          where: String(param.in),
          required: param.required === true,
          schema: JSON.stringify(param.schema ?? {}),
        }
      })
      const body = obj(op.requestBody)
      const bodySchema = obj(obj(obj(body.content)['application/json']).schema)
      const answers = Object.entries(obj(op.responses)).map(([status, r]): Answer => {
        const response = obj(r)
        const schema = obj(obj(response.content)['application/json']).schema
        return {
          status,
          description: String(response.description ?? ''),
          schema: schema === undefined ? '' : schemaText(schema, doc),
        }
      })
      answers.sort((a, b) => a.status.localeCompare(b.status))
      result.push({
        id: String(op.operationId ?? `${method}-${path}`),
        method: method.toUpperCase(),
        path,
        summary: String(op.summary ?? ''),
        who: who(op),
        parameters,
        body: Object.keys(bodySchema).length
          ? `${body.required === true ? 'Required' : 'Optional'}: ${schemaText(bodySchema, doc)}`
          : '',
        answers,
      })
    }
  }
  return result
}
