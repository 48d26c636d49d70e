// What the create page's editor starts from, per runtime: the smallest function each runtime runs with its
// default handler (index.handler: the module's default export; main.handler), passing the build's checks.

export const TEMPLATES = {
  node: {
    file: 'index.mjs',
    text: `// A Stratus function: the default export gets the call's event (method, path, query, headers, body)
// and a context (requestId, function, version); what it returns is the answer (an object becomes JSON).
export default async function (event, context) {
  const name = event.query.name ?? 'world';
  return { message: \`hello \${name}\`, requestId: context.requestId };
}
`,
  },
  python: {
    file: 'main.py',
    text: `# A Stratus function: handler gets the call's event (method, path, query, headers, body) and a
# context (request_id, function_name, version); what it returns is the answer (a dict becomes JSON).
def handler(event, context):
    name = event["query"].get("name", "world")
    return {"message": f"hello {name}", "function": context.function_name}
`,
  },
} as const;

export type TemplateRuntime = keyof typeof TEMPLATES;
