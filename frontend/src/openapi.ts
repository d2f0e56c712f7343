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
const SCHEMAS = '#/components/schemas/'

function obj(value: unknown): Json {
  return value !== null && typeof value === 'object' ? (value as Json) : {}
}

/** `schema` with every `$ref` to a component replaced by the component itself (a
 * component met again inside itself stays a `$ref`). */
export function resolve(schema: unknown, doc: Json, seen: string[] = []): unknown {
  if (Array.isArray(schema)) return schema.map((item) => resolve(item, doc, seen))
  if (schema === null || typeof schema !== 'object') return schema
  const ref = (schema as Json).$ref
  if (typeof ref === 'string' && ref.startsWith(SCHEMAS)) {
    const name = ref.slice(SCHEMAS.length)
    if (seen.includes(name)) return schema
    const target = obj(obj(obj(doc.components).schemas)[name])
    return { title: name, ...obj(resolve(target, doc, [...seen, name])) }
  }
  return Object.fromEntries(
    Object.entries(schema).map(([key, value]) => [key, resolve(value, doc, seen)]),
  )
}

/** A schema as indented JSON, every `$ref` to a component resolved. */
export function schemaText(schema: unknown, doc: Json): string {
  return JSON.stringify(resolve(schema, doc), null, 2)
}

/** Who may call an operation, from its `security` and `x-permission` (declared once
 * beside the route, checked there) and the permission's description. */
function who(op: Json, doc: Json): string {
  if (!Array.isArray(op.security) || op.security.length === 0)
    return 'Anyone, no credentials needed.'
  const rule = obj(op['x-permission'])
  const signedIn = 'Signed in (Authorization: Bearer with an API key or an access token)'
  if (typeof rule.name !== 'string') return `${signedIn}.`
  const described = String(obj(obj(doc['x-permissions'])[rule.name]).description ?? '')
  const what = described ? ` (lets its holder ${described})` : ''
  const self = rule.or_self === true ? 'the user themself, or ' : ''
  return `${signedIn}; needs ${self}${rule.name}${what}.`
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
        who: who(op, doc),
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
