// A bucket notification as a MinIO webhook target sends it, byte for byte: MinIO marshals its Go structs
// with encoding/json (fields in struct order, maps with sorted keys, "<", ">" and "&" escaped as \u003c…,
// size/eTag/contentType/userMetadata/versionId omitted when empty) into event.Log{EventName, Key,
// Records}, with the record's object key escaped by url.QueryEscape and the top-level Key unescaped
// ("bucket/key"). Sources: minio internal/event/event.go, internal/event/target/webhook.go, and
// cmd/event-notification.go (ToEvent). Tests post this body to /v1/hooks/storage/minio.

export interface MinioObjectChange {
  /** e.g. "s3:ObjectCreated:Put", "s3:ObjectRemoved:Delete". */
  eventName: string;
  bucket: string;
  key: string;
  size?: number;
  etag?: string;
  contentType?: string;
  /** MinIO's ModTime; the sequencer is its nanoseconds in upper-case hex. */
  modTime?: Date;
  region?: string;
}

/** Go's url.QueryEscape: every byte but A-Z a-z 0-9 - _ . ~ as %XX, a space as "+" ("/" too is escaped). */
export function goQueryEscape(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(b);
    if (/[A-Za-z0-9\-_.~]/.test(c)) out += c;
    else if (b === 0x20) out += '+';
    else out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** JSON as Go's json.Marshal writes it (HTML-safe escaping); objects must list their keys in Go's order. */
function goJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

const sorted = (m: Record<string, string>) => Object.fromEntries(Object.entries(m).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

/** The body MinIO posts for one object change. */
export function minioWebhookBody(c: MinioObjectChange): string {
  const removed = /^s3:ObjectRemoved:(Delete|DeleteMarkerCreated|NoOP)$/.test(c.eventName);
  const when = c.modTime ?? new Date();
  const principal = { principalId: 'minioadmin' };
  const object = {
    key: goQueryEscape(c.key),
    ...(removed || !c.size ? {} : { size: c.size }),
    ...(removed || !c.etag ? {} : { eTag: c.etag }),
    ...(removed || !c.contentType ? {} : { contentType: c.contentType }),
    ...(removed || !c.contentType ? {} : { userMetadata: { 'content-type': c.contentType } }),
    sequencer: (BigInt(when.getTime()) * 1_000_000n).toString(16).toUpperCase(),
  };
  const record = {
    eventVersion: '2.0',
    eventSource: 'minio:s3',
    awsRegion: c.region ?? '',
    eventTime: when.toISOString(),
    eventName: c.eventName,
    userIdentity: principal,
    requestParameters: sorted({ principalId: 'minioadmin', region: c.region ?? '', sourceIPAddress: '127.0.0.1' }),
    responseElements: sorted({
      'x-amz-id-2': 'dd9025bab4ad464b049177c95eb6ebf374d3b3fd1af9251148b658df7ac2e3e8',
      'x-amz-request-id': '17E2D2F4C5B8A1F0',
      'x-minio-deployment-id': '2b8e4a5f-9c1d-4e7a-8f3b-6d0c1a2e3f4b',
      'x-minio-origin-endpoint': 'http://127.0.0.1:9000',
    }),
    s3: {
      s3SchemaVersion: '1.0',
      configurationId: 'Config',
      bucket: { name: c.bucket, ownerIdentity: principal, arn: `arn:aws:s3:::${c.bucket}` },
      object,
    },
    source: { host: '127.0.0.1', port: '', userAgent: 'MinIO (linux; amd64) minio-go/v7.0.70' },
  };
  return goJson({ EventName: c.eventName, Key: `${c.bucket}/${c.key}`, Records: [record] });
}
