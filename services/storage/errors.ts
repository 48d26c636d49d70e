// S3's error vocabulary. The S3 endpoint answers in S3's XML error shape (not problem+json) because S3
// clients parse <Error><Code> to decide what to throw; these codes and statuses are the ones AWS uses, so
// a client's NoSuchKey handling works unchanged. docs/errors.md lists them.

export const S3_ERRORS = {
  AccessDenied: 403,
  AuthorizationHeaderMalformed: 400,
  AuthorizationQueryParametersError: 400,
  BadDigest: 400,
  BucketAlreadyOwnedByYou: 409,
  BucketNotEmpty: 409,
  EntityTooLarge: 400,
  EntityTooSmall: 400,
  IncompleteBody: 400,
  InternalError: 500,
  InvalidAccessKeyId: 403,
  InvalidArgument: 400,
  InvalidBucketName: 400,
  InvalidDigest: 400,
  InvalidPart: 400,
  InvalidPartOrder: 400,
  InvalidRange: 416,
  InvalidRequest: 400,
  KeyTooLongError: 400,
  MalformedXML: 400,
  MetadataTooLarge: 400,
  MethodNotAllowed: 405,
  MissingContentLength: 411,
  NoSuchBucket: 404,
  NoSuchKey: 404,
  NoSuchUpload: 404,
  NotImplemented: 501,
  /** Not AWS's (S3 has no quotas): Ceph's S3 gateway answers it for a bucket or user quota; see quota.ts. */
  QuotaExceeded: 403,
  RequestTimeTooSkewed: 403,
  SignatureDoesNotMatch: 403,
  XAmzContentSHA256Mismatch: 400,
} as const;

export type S3ErrorCode = keyof typeof S3_ERRORS;

export class S3Error extends Error {
  readonly status: number;
  constructor(
    readonly code: S3ErrorCode,
    message: string,
    /** Extra elements of the <Error> document (e.g. BucketName, Key). */
    readonly extra: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'S3Error';
    this.status = S3_ERRORS[code];
  }
}
