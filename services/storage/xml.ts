// S3 XML in and out with fast-xml-parser: responses and errors are built from plain objects (the builder
// escapes text, so a key like `a<b&c` cannot break the document), request bodies (CompleteMultipartUpload,
// Delete) are parsed with the repeated elements forced to arrays.

import { XMLBuilder, XMLParser } from 'fast-xml-parser';
import { S3Error } from './errors.js';

// The XML namespace S3's documents declare (a name S3 clients match, never an address anything connects to).
export const S3_NS = 'http://s3.amazonaws.com/doc/2006-03-01/';

const builder = new XMLBuilder({ ignoreAttributes: false, attributeNamePrefix: '@_', suppressEmptyNode: false });
const REPEATED = new Set(['Part', 'Object']);
const parser = new XMLParser({ ignoreAttributes: true, parseTagValue: false, trimValues: true, isArray: (name) => REPEATED.has(name) });

/** A whole S3 XML document: `{ ListBucketResult: {...} }` → `<?xml …?><ListBucketResult xmlns=…>…`. */
export function toXml(rootName: string, body: Record<string, unknown>, namespaced = true): string {
  const root = namespaced ? { '@_xmlns': S3_NS, ...body } : body;
  return `<?xml version="1.0" encoding="UTF-8"?>\n${builder.build({ [rootName]: root }) as string}`;
}

export function errorXml(err: S3Error, resource: string, requestId: string): string {
  return toXml('Error', { Code: err.code, Message: err.message, ...err.extra, Resource: resource, RequestId: requestId }, false);
}

/** Parses a request body; anything that is not XML with the expected root is MalformedXML. */
export function parseXml(text: string, rootName: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = parser.parse(text, true);
  } catch {
    throw new S3Error('MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema.');
  }
  const root = (doc as Record<string, unknown> | null)?.[rootName];
  if (typeof root !== 'object' || root === null) {
    throw new S3Error('MalformedXML', `The XML you provided has no <${rootName}> root element.`);
  }
  return root as Record<string, unknown>;
}
